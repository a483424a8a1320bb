// duel studio's HTTP server: the page and its assets, and a small JSON API over lab sessions.
//
//   GET  /                    the page (studio.html; studio.js, studio.css and charts.js beside it)
//   POST /api/session         {settings?}                  -> a new session: id, settings, view
//   POST /api/step            {session, action, count, settings?, trace?, since?} -> view, history
//   POST /api/reset           {session, settings?}         -> fresh networks
//   GET  /api/defaults?loss=  the lab's defaults for a loss
//   GET  /api/graph?session=&view=full|summary&values=0|1&collapsed=i,j  -> SVG and clusters
//   GET  /api/node?session=&node=K                          -> one node's statistics
// Every error is one JSON object {"error": "..."} with status 400 (bad request), 404 (unknown
// session or path) or 500; a handler never takes the server down.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <httplib.h>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "gan/web_assets.h"
#include "studio/studio.h"

namespace duel::studio {

namespace {

using Clock = std::chrono::steady_clock;

struct Session {
  std::mutex mutex;
  std::unique_ptr<gan::LabSession> lab;
  Clock::time_point last_used = Clock::now();
  // The last rendered graph, so that clicking around does not run Graphviz again.
  const gan::IterationGraph* rendered_for = nullptr;
  std::string rendered_key, rendered_svg;
};

class NotFound : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Sessions {
 public:
  explicit Sessions(const StudioOptions& o) : options_(o) {}

  std::pair<std::string, std::shared_ptr<Session>> create() {
    std::lock_guard<std::mutex> lock(mutex_);
    expire_locked();
    if (int(sessions_.size()) >= options_.max_sessions) {  // room for the new one: the least recently used goes
      auto oldest = sessions_.begin();
      for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
        if (it->second->last_used < oldest->second->last_used) oldest = it;
      sessions_.erase(oldest);
    }
    std::string id;
    do {
      id = random_id();
    } while (sessions_.count(id));
    auto s = std::make_shared<Session>();
    sessions_[id] = s;
    return {id, s};
  }

  std::shared_ptr<Session> get(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    expire_locked();
    auto it = sessions_.find(id);
    if (it == sessions_.end())
      throw NotFound("unknown session '" + id.substr(0, 64) + "' (it may have expired: reload the page)");
    it->second->last_used = Clock::now();
    return it->second;
  }

  void drop(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    sessions_.erase(id);
  }

 private:
  void expire_locked() {
    const auto limit = Clock::now() - std::chrono::minutes(options_.idle_minutes);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second->last_used < limit) it = sessions_.erase(it);
      else ++it;
    }
  }

  std::string random_id() {
    std::uniform_int_distribution<uint64_t> d;
    char b[40];
    std::snprintf(b, sizeof b, "%016llx%016llx", (unsigned long long)d(rng_), (unsigned long long)d(rng_));
    return b;
  }

  StudioOptions options_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
  std::mt19937_64 rng_{std::random_device{}()};
};

void send_json(httplib::Response& res, const nlohmann::json& j, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(j.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, {{"error", message}}, status);
}

// Runs a handler, turning every failure into one JSON error response.
template <class F>
httplib::Server::Handler guarded(F f) {
  return [f](const httplib::Request& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (const NotFound& e) {
      send_error(res, 404, e.what());
    } catch (const Error& e) {
      send_error(res, 400, e.what());
    } catch (const nlohmann::json::exception& e) {
      send_error(res, 400, std::string("malformed request: ") + e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, std::string("internal error: ") + e.what());
    }
  };
}

nlohmann::json body_of(const httplib::Request& req) {
  DUEL_CHECK(!req.body.empty(), "the request needs a JSON body");
  nlohmann::json j = nlohmann::json::parse(req.body);  // throws json::parse_error: malformed request
  DUEL_CHECK(j.is_object(), "the request body must be a JSON object");
  return j;
}

std::string session_id(const nlohmann::json& j) {
  DUEL_CHECK(j.contains("session") && j["session"].is_string(), "the request needs \"session\": the id from /api/session");
  return j["session"].get<std::string>();
}

int64_t int_param(const httplib::Request& req, const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  DUEL_CHECK(!v.empty() && end == v.c_str() + v.size() && n >= lo && n <= hi, "parameter '", name,
             "' must be an integer in [", lo, ", ", hi, "], got '", v.substr(0, 32), "'");
  return n;
}

// The state the page draws after an action: the view, and the history entries it has not seen.
nlohmann::json state_json(Session& s, int64_t since) {
  gan::LabSession& lab = *s.lab;
  nlohmann::json history = nlohmann::json::array();
  const auto& h = lab.history();
  for (size_t i = size_t(std::clamp<int64_t>(since, 0, int64_t(h.size()))); i < h.size(); ++i)
    history.push_back(h[i].json());
  return {{"settings", settings_to_json(lab.settings())},
          {"view", lab.view()},
          {"history", history},
          {"history_length", h.size()},
          {"graph", lab.last_graph() != nullptr}};
}

constexpr size_t kMaxHistory = 200000;  // entries kept per session (a long run at one per step)

}  // namespace

int run_studio(const StudioOptions& o) {
  DUEL_CHECK(o.port >= 0 && o.port <= 65535, "studio: --port must be in [0, 65535], got ", o.port);
  DUEL_CHECK(o.max_sessions >= 1, "studio: --max-sessions must be at least 1");
  Sessions sessions(o);
  httplib::Server server;
  server.set_payload_max_length(4 << 20);
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);

  auto asset = [&](const std::string& path, const std::string& name, const char* type) {
    server.Get(path, guarded([name, type](const httplib::Request&, httplib::Response& res) {
      const std::string_view a = gan::web_asset(name);
      res.set_content(std::string(a), type);
    }));
  };
  asset("/", "studio.html", "text/html; charset=utf-8");
  asset("/studio.js", "studio.js", "text/javascript; charset=utf-8");
  asset("/charts.js", "charts.js", "text/javascript; charset=utf-8");
  asset("/studio.css", "studio.css", "text/css; charset=utf-8");
  server.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });

  server.Post("/api/session", guarded([&](const httplib::Request& req, httplib::Response& res) {
    const nlohmann::json j = req.body.empty() ? nlohmann::json::object() : body_of(req);
    gan::LabSettings base;
    base.optim = gan::lab_defaults_for(base.optim.loss);
    const gan::LabSettings settings = j.contains("settings") ? settings_from_json(j["settings"], base) : base;
    auto lab = std::make_unique<gan::LabSession>(settings);  // validates before a session is made
    lab->measure_coverage();
    auto [id, s] = sessions.create();
    std::lock_guard<std::mutex> lock(s->mutex);
    s->lab = std::move(lab);
    nlohmann::json out = state_json(*s, 0);
    out["session"] = id;
    send_json(res, out);
  }));

  server.Post("/api/step", guarded([&](const httplib::Request& req, httplib::Response& res) {
    const nlohmann::json j = body_of(req);
    auto s = sessions.get(session_id(j));
    const std::string action = j.value("action", "step");
    DUEL_CHECK(action == "step" || action == "critic" || action == "generator", "\"action\" must be step, critic or "
               "generator, got '", action, "'");
    const int64_t count = j.value("count", int64_t(1));
    DUEL_CHECK(count >= 1 && count <= 500, "\"count\" must be in [1, 500], got ", count);
    const bool trace = j.value("trace", false);
    const int64_t since = j.value("since", int64_t(0));
    std::lock_guard<std::mutex> lock(s->mutex);
    gan::LabSession& lab = *s->lab;
    if (j.contains("settings")) lab.apply(settings_from_json(j["settings"], lab.settings()));
    DUEL_CHECK(lab.history().size() < kMaxHistory, "this session has run ", kMaxHistory, " updates: press reset");
    for (int64_t i = 0; i < count; ++i) {
      const bool last = i + 1 == count;
      if (action == "critic") lab.critic_update(trace && last);
      else if (action == "generator") lab.generator_update(trace && last);
      else lab.step(trace && last);
    }
    lab.measure_coverage();
    send_json(res, state_json(*s, since));
  }));

  server.Post("/api/reset", guarded([&](const httplib::Request& req, httplib::Response& res) {
    const nlohmann::json j = body_of(req);
    auto s = sessions.get(session_id(j));
    std::lock_guard<std::mutex> lock(s->mutex);
    const gan::LabSettings settings =
        j.contains("settings") ? settings_from_json(j["settings"], s->lab->settings()) : s->lab->settings();
    s->lab->reset(settings);
    s->lab->measure_coverage();
    send_json(res, state_json(*s, 0));
  }));

  server.Post("/api/close", guarded([&](const httplib::Request& req, httplib::Response& res) {
    sessions.drop(session_id(body_of(req)));
    send_json(res, {{"closed", true}});
  }));

  server.Get("/api/defaults", guarded([&](const httplib::Request& req, httplib::Response& res) {
    DUEL_CHECK(req.has_param("loss"), "/api/defaults needs ?loss=NAME");
    gan::LabSettings s;
    s.optim = gan::lab_defaults_for(gan::parse_loss(req.get_param_value("loss")));
    send_json(res, settings_to_json(s));
  }));

  server.Get("/api/graph", guarded([&](const httplib::Request& req, httplib::Response& res) {
    DUEL_CHECK(req.has_param("session"), "/api/graph needs ?session=ID");
    auto s = sessions.get(req.get_param_value("session"));
    gan::DotOptions dot;
    const std::string view = req.has_param("view") ? req.get_param_value("view") : "full";
    DUEL_CHECK(view == "full" || view == "summary", "parameter 'view' must be full or summary, got '", view.substr(0, 32), "'");
    dot.summary = view == "summary";
    dot.values = int_param(req, "values", 0, 0, 1) == 1;
    std::lock_guard<std::mutex> lock(s->mutex);
    const gan::IterationGraph* g = s->lab->last_graph();
    DUEL_CHECK(g != nullptr, "no graph yet: take a step with the graph view open");
    const std::string collapsed = req.has_param("collapsed") ? req.get_param_value("collapsed") : "";
    for (size_t start = 0; start < collapsed.size();) {
      size_t end = collapsed.find(',', start);
      if (end == std::string::npos) end = collapsed.size();
      const std::string item = collapsed.substr(start, end - start);
      char* stop = nullptr;
      const long k = std::strtol(item.c_str(), &stop, 10);
      DUEL_CHECK(!item.empty() && stop == item.c_str() + item.size() && k >= 0 && k < long(g->clusters.size()),
                 "parameter 'collapsed' must list cluster numbers below ", g->clusters.size(), ", got '", item.substr(0, 32), "'");
      dot.collapsed.insert(g->clusters[size_t(k)]);
      start = end + 1;
    }
    const std::string key = view + "|" + std::to_string(dot.values) + "|" + collapsed;
    if (s->rendered_for != g || s->rendered_key != key) {
      s->rendered_svg = gan::render_svg(gan::graph_dot(*g, dot));
      s->rendered_for = g;
      s->rendered_key = key;
    }
    nlohmann::json clusters = nlohmann::json::array();
    for (size_t i = 0; i < g->clusters.size(); ++i) {
      int size = 0;
      for (const auto& n : g->nodes) size += n.cluster == g->clusters[i];
      clusters.push_back({{"index", i}, {"name", g->clusters[i]}, {"nodes", size},
                          {"collapsed", dot.summary ? g->clusters[i] != "data" : dot.collapsed.count(g->clusters[i]) > 0}});
    }
    const gan::GraphStats st = g->stats();
    send_json(res, {{"svg", s->rendered_svg},
                    {"title", g->title},
                    {"clusters", clusters},
                    {"stats", {{"forward", st.forward}, {"backward", st.backward}, {"double_backward", st.double_backward},
                               {"parameters", st.parameters}, {"inputs", st.inputs}, {"edges", st.edges}}}});
  }));

  server.Get("/api/node", guarded([&](const httplib::Request& req, httplib::Response& res) {
    DUEL_CHECK(req.has_param("session"), "/api/node needs ?session=ID");
    auto s = sessions.get(req.get_param_value("session"));
    std::lock_guard<std::mutex> lock(s->mutex);
    const gan::IterationGraph* g = s->lab->last_graph();
    DUEL_CHECK(g != nullptr, "no graph yet: take a step with the graph view open");
    send_json(res, gan::node_details(*g, int(int_param(req, "node", -1, 0, int64_t(g->nodes.size()) - 1))));
  }));

  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler's own error
    send_error(res, res.status, res.status == 404 ? "no such page: " + req.path.substr(0, 200)
                                                  : "request failed with status " + std::to_string(res.status));
  });

  // Ctrl-C and SIGTERM stop the server cleanly: the signals are blocked in every thread and a
  // watcher thread waits for them (no work in a signal handler).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed tab mid-response must not end the process

  int port = o.port;
  if (port == 0) {
    port = server.bind_to_any_port(o.host);
    DUEL_CHECK(port > 0, "studio: cannot listen on ", o.host, " (bad address?)");
  } else {
    DUEL_CHECK(server.bind_to_port(o.host, port), "studio: cannot listen on ", o.host, ":", port,
               " (in use? try --port 0 for any free port)");
  }
  const bool loopback = o.host == "127.0.0.1" || o.host == "localhost" || o.host == "::1";
  std::printf("duel studio: serving on http://%s:%d/\n", o.host == "::1" ? "[::1]" : o.host.c_str(), port);
  std::printf("  bound to %s%s\n", o.host.c_str(),
              loopback ? ": only this machine can connect (--host ADDR to choose another address)"
                       : ": other machines on the network can connect; there is no password");
  std::printf("  Ctrl-C stops it.\n");
  std::fflush(stdout);

  std::atomic<bool> done{false};
  std::thread watcher([&] {
    const timespec tick{0, 200'000'000};
    while (!done.load()) {
      siginfo_t info;
      if (sigtimedwait(&stop_signals, &info, &tick) > 0) {
        std::printf("duel studio: stopping (signal %d)\n", info.si_signo);
        std::fflush(stdout);
        server.stop();
        return;
      }
    }
  });
  const bool ok = server.listen_after_bind();
  done = true;
  watcher.join();
  DUEL_CHECK(ok, "studio: the server stopped with an error");
  std::printf("duel studio: stopped\n");
  return 0;
}

}  // namespace duel::studio
