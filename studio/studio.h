// duel studio: the 2D GAN lab as a local web application served by duel itself (cpp-httplib).
// Each browser tab gets its own lab session (gan/lab_session.h); the page steps it, changes its
// settings between steps, and draws what the server computes: the critic's heat map, real and
// generated points, the generator's transport, gradient arrows, curves, and the autograd graph
// of the last step (Graphviz on the server, SVG in the page) with every node's statistics.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "gan/lab_session.h"

namespace duel::studio {

struct StudioOptions {
  std::string host = "127.0.0.1";  // loopback only, unless asked otherwise
  int port = 8765;                 // 0: any free port (printed on start-up)
  int max_sessions = 32;           // the least recently used session goes when a new one needs room
  int idle_minutes = 60;           // sessions unused this long are dropped
};

// Serves until SIGINT or SIGTERM; returns the process exit code.
int run_studio(const StudioOptions& options);

// Settings as the page sends them, over `base` (keys the page leaves out keep base's values).
// Throws duel::Error naming the key for an unknown key, a wrong type or an out-of-range value.
gan::LabSettings settings_from_json(const nlohmann::json& j, const gan::LabSettings& base);
nlohmann::json settings_to_json(const gan::LabSettings& s);

}  // namespace duel::studio
