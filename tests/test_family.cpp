// Your own GAN from the command line: the DCGAN family trained on a folder of pictures (made
// here), bit-exact resume with G's moving average, sampling (grids, single images, latent walks),
// --init-from, the sliced Wasserstein distance in `duel eval` and --eval-every for data the
// Fashion-MNIST classifier cannot judge, the checkpoint in PyTorch, and bad combinations refused.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/random.h"
#include "gan/data.h"
#include "gan/image.h"
#include "gan/swd.h"
#include "nn/safetensors.h"
#include "tests/run_duel.h"

using namespace duel;
namespace fs = std::filesystem;
using test::Run;
using test::run_duel;
using test::tmp_dir;

namespace {

// `count` colour pictures of 40x36 pixels (centre-cropped and resized by the loader): a disc of
// a random colour, place and radius on a dark background.
std::string make_picture_folder(const std::string& name, int count) {
  const std::string dir = tmp_dir(name);
  Generator g(3);
  const std::vector<double> u = uniform({count, 6}, 0, 1, g, DType::f64).to_vector();
  const int w = 40, h = 36;
  std::vector<uint8_t> px(size_t(w * h * 3));
  for (int i = 0; i < count; ++i) {
    const double cx = 10 + 20 * u[size_t(i * 6)], cy = 10 + 16 * u[size_t(i * 6 + 1)], r = 4 + 8 * u[size_t(i * 6 + 2)];
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          const bool inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
          px[size_t((y * w + x) * 3 + c)] = uint8_t(inside ? 80 + 175 * u[size_t(i * 6 + 3 + c)] : 20);
        }
    char file[64];
    std::snprintf(file, sizeof file, "/disc_%03d.png", i);
    gan::write_png(dir + file, px.data(), w, h, 3);
  }
  return dir;
}

std::string read(const std::string& path) { return test::slurp(path); }

// Whether /usr/bin/python3 has torch (the PyTorch cross-checks are skipped without it).
bool have_torch() { return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

}  // namespace

TEST_CASE("the DCGAN family trains on a folder of pictures, resumes bit-exactly and samples", "[family][train]") {
  const std::string pictures = make_picture_folder("family_pictures", 300);
  const std::string dir = tmp_dir("family");
  const std::string common = "train --model dcgan --image-size 32 --ngf 32 --ndf 32 --data folder:" + pictures +
                             " --batch 16 --seed 4 --ema 0.9 --log-every 1";
  const Run straight = run_duel(common + " --steps 4 --out " + dir + "/straight");
  INFO(straight.err);
  REQUIRE(straight.code == 0);
  CHECK(straight.out.find("dcgan 32x32 (ngf 32, ndf 32)") != std::string::npos);
  CHECK(straight.out.find("300 pictures") != std::string::npos);
  REQUIRE(run_duel(common + " --steps 2 --out " + dir + "/split").code == 0);
  const Run resumed = run_duel("train --resume --steps 4 --out " + dir + "/split");
  INFO(resumed.err);
  REQUIRE(resumed.code == 0);
  for (const char* file : {"G.safetensors", "D.safetensors", "G_ema.safetensors", "train_state.safetensors"}) {
    INFO(file);
    CHECK(read(dir + "/straight/checkpoint/" + file) == read(dir + "/split/checkpoint/" + file));
  }
  CHECK(read(dir + "/straight/metrics.jsonl").size() > 0);
  const auto cfg = nlohmann::json::parse(read(dir + "/straight/checkpoint/config.json"));
  CHECK(cfg.at("model") == "dcgan");
  CHECK(cfg.at("image_size") == 32);
  CHECK(cfg.at("channels") == 3);
  CHECK(cfg.at("ema") == 0.9);

  {  // the moving average is not G, and sample uses it unless told otherwise
    CHECK(read(dir + "/straight/checkpoint/G.safetensors") != read(dir + "/straight/checkpoint/G_ema.safetensors"));
    const Run ema = run_duel("sample --checkpoint " + dir + "/straight --n 9 --scale 2 --out " + dir + "/ema.png");
    INFO(ema.err);
    CHECK(ema.code == 0);
    CHECK(ema.out.find("G's moving average") != std::string::npos);
    const Run live = run_duel("sample --checkpoint " + dir + "/straight --n 9 --no-ema --out " + dir + "/live.png");
    CHECK(live.code == 0);
    CHECK(live.out.find("from G to") != std::string::npos);
    CHECK(read(dir + "/ema.png") != read(dir + "/live.png"));
  }
  {  // single images, grids with --nrow, latent walks
    REQUIRE(run_duel("sample --checkpoint " + dir + "/straight --n 5 --out-dir " + dir + "/singles").code == 0);
    for (int i = 0; i < 5; ++i) CHECK(fs::exists(dir + "/singles/sample_000" + std::to_string(i) + ".png"));
    CHECK_FALSE(fs::exists(dir + "/singles/sample_0005.png"));
    // 32x32 images with 2 pixels of padding: 5 per row -> 5 * 34 + 2 wide, 2 rows -> 2 * 34 + 2 high
    REQUIRE(run_duel("sample --checkpoint " + dir + "/straight --n 10 --nrow 5 --out " + dir + "/grid.png").code == 0);
    const std::string png = read(dir + "/grid.png");
    auto be32 = [&](size_t at) {
      return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
             (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
    };
    CHECK(be32(16) == 5 * 34 + 2);  // IHDR width
    CHECK(be32(20) == 2 * 34 + 2);  // IHDR height
    const Run walk = run_duel("sample --checkpoint " + dir + "/straight --interpolate 6 --n 3 --out " + dir + "/walk.png");
    INFO(walk.err);
    CHECK(walk.code == 0);
    CHECK(walk.out.find("3 latent walks of 6 steps") != std::string::npos);
  }
  {  // the checkpoint and its moving average load into the PyTorch reference strictly
    if (have_torch()) {
      const std::string check = "/usr/bin/python3 " + std::string(DUEL_SOURCE_DIR) + "/scripts/check_torch_load.py " +
                                dir + "/straight/checkpoint > " + dir + "/torch.log 2>&1";
      const int code = std::system(check.c_str());
      INFO(read(dir + "/torch.log"));
      CHECK(code == 0);
      CHECK(read(dir + "/torch.log").find("G_ema.safetensors") != std::string::npos);
    } else {
      WARN("skipped: /usr/bin/python3 has no torch");
    }
  }
  {  // duel eval: the sliced Wasserstein distance against the run's own pictures, no Fashion-MNIST metrics
    const Run r = run_duel("eval --fake checkpoint:" + dir + "/straight --n 64 --json");
    INFO(r.err);
    REQUIRE(r.code == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j.at("swd").get<double>() > 0);
    CHECK(j.at("swd_levels").size() == 2);  // 32 and 16
    CHECK_FALSE(j.contains("fid"));
    CHECK(j.at("swd_real").get<std::string>().find(pictures) != std::string::npos);
  }
  {  // --init-from starts from another run's G and D
    // With learning rates of 1e-30 (Adam moves a weight by about lr) the parameters stay, to the
    // bit, where they started: the source's.
    const Run r = run_duel("train --model dcgan --image-size 32 --ngf 32 --ndf 32 --data folder:" + pictures +
                           " --batch 16 --steps 1 --lr-g 1e-30 --lr-d 1e-30 --init-from " + dir + "/straight --out " + dir +
                           "/init");
    INFO(r.err);
    REQUIRE(r.code == 0);
    for (const char* file : {"G.safetensors", "D.safetensors"}) {
      const auto a = safetensors::read_file(dir + "/straight/checkpoint/" + file);
      const auto b = safetensors::read_file(dir + "/init/checkpoint/" + file);
      REQUIRE(a.tensors.size() == b.tensors.size());
      for (size_t i = 0; i < a.tensors.size(); ++i) {
        const std::string& n = a.tensors[i].name;
        if (n.find("running") != std::string::npos || n.find("num_batches") != std::string::npos) continue;
        INFO(file << " " << n);
        CHECK(a.tensors[i].data == b.tensors[i].data);
      }
    }
    const Run other = run_duel("train --model dcgan --image-size 32 --ngf 16 --ndf 32 --data folder:" + pictures +
                               " --batch 16 --steps 1 --init-from " + dir + "/straight --out " + dir + "/init2");
    CHECK(other.code != 0);
    CHECK(other.err.find("ngf 32") != std::string::npos);
    CHECK(other.err.find("ngf 16") != std::string::npos);
  }
}

TEST_CASE("training with --eval-every on colour pictures logs the sliced Wasserstein distance", "[family][train][metrics]") {
  const std::string pictures = make_picture_folder("family_eval_pictures", 64);
  const std::string dir = tmp_dir("family_eval");
  const Run r = run_duel("train --model dcgan --image-size 16 --ngf 8 --ndf 8 --upsample nearest --data folder:" +
                         pictures + " --batch 16 --steps 2 --eval-every 2 --eval-n 40 --out " + dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::ifstream in(dir + "/metrics.jsonl");
  std::string line, last;
  while (std::getline(in, line)) last = line;
  const auto j = nlohmann::json::parse(last);
  CHECK(j.at("swd").get<double>() > 0);
  CHECK(j.at("eval_of") == "G");
  CHECK(j.at("swd_levels").contains("16"));
  CHECK(j.at("swd_levels").contains("8"));
  CHECK_FALSE(j.contains("fid"));
}

TEST_CASE("the sliced Wasserstein distance tells real pictures from noise", "[family][metrics]") {
  const gan::Dataset d = gan::load_dataset("fashion-mnist", false, 1, 28);
  const Tensor a = gan::sample_images(d, 300, 1), b = gan::sample_images(d, 600, 2);
  const Tensor b1 = narrow(b, 0, 0, 300);
  Generator g(5);
  const Tensor noise = uniform({300, 1, 28, 28}, -1, 1, g);
  const gan::SwdReport same = gan::sliced_wasserstein(a, b1, 9), apart = gan::sliced_wasserstein(a, noise, 9);
  CHECK(same.resolutions == std::vector<int64_t>{28, 14});
  CHECK(same.patches_per_image == 128);
  INFO("real/real " << same.mean << ", real/noise " << apart.mean);
  CHECK(same.mean > 0);
  CHECK(apart.mean > 5 * same.mean);
  // Deterministic for a seed.
  const Tensor a50 = narrow(a, 0, 0, 50), b50 = narrow(b, 0, 0, 50);
  CHECK(gan::sliced_wasserstein(a50, b50, 3).mean == gan::sliced_wasserstein(a50, b50, 3).mean);
  CHECK_THROWS_WITH(gan::sliced_wasserstein(a, narrow(b, 0, 0, 299), 9), Catch::Contains("same shape"));
}

TEST_CASE("duel train refuses model settings that cannot work, in one line", "[family][errors]") {
  const std::string dir = tmp_dir("family_bad");
  const std::string base = "train --data synthetic --batch 8 --steps 1 --out " + dir + "/a ";
  const std::vector<test::Refusal> cases = {
      {base + "--model dcgan28 --image-size 32", "named configuration"},
      {base + "--model dcgan64 --ngf 32", "use --model dcgan"},
      {base + "--image-size 48", "power of two from 16 to 256, or 28"},
      {base + "--model dcgan --ngf 0", "--ngf must be an integer from 1 to 4096, got '0'"},
      {base + "--model dcgan --ngf 1024 --image-size 256", "--ngf 1024"},
      {base + "--upsample bilinear", "--upsample must be one of convT|nearest"},
      {base + "--ema 1.5", "--ema must be a number >= 0 and < 1, got '1.5'"},
      {base + "--nz 0", "--nz must be an integer from 1 to 4096"},
      {"train --resume --init-from " + dir + " --out " + dir + "/a", "--init-from starts a new run"},
      {base + "--init-from " + dir + "/nothing", "no checkpoint there"},
      {"sample --checkpoint " + dir + " --n 4", "--out GRID.png or --out-dir DIR"},
      {"sample --checkpoint " + dir + " --interpolate 1 --out x.png", "--interpolate must be an integer from 2 to 64"},
      {"sample --checkpoint " + dir + " --interpolate 4 --nrow 2 --out x.png", "one walk per row"},
  };
  test::check_refusals(cases);
}
