// Folders of pictures as training data (gan/folder.h): recursive indexing, transparency composited
// onto the background, undecodable files skipped and counted, class sub-folders, colour counted
// for 1-channel models, and pictures streamed from disk giving the batches that memory gives.
#include <stb/stb_image_write.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/ops.h"
#include "gan/data.h"
#include "gan/folder.h"
#include "gan/image.h"
#include "nn/safetensors.h"
#include "tests/run_duel.h"

using namespace duel;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using test::run_duel;
using test::tmp_dir;

namespace {

// A w x h RGB picture whose pixel (x, y) is (x * 16 + seed, y * 16, seed * 7) mod 256.
void rgb_picture(const std::string& path, int w, int h, int seed) {
  std::vector<uint8_t> px(size_t(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = px.data() + (y * w + x) * 3;
      p[0] = uint8_t(x * 16 + seed), p[1] = uint8_t(y * 16), p[2] = uint8_t(seed * 7);
    }
  gan::write_png(path, px.data(), w, h, 3);
}

gan::FolderOptions options(int64_t channels, int64_t size) {
  gan::FolderOptions o;
  o.channels = channels;
  o.size = size;
  o.progress = false;
  return o;
}

}  // namespace

TEST_CASE("transparent pixels are composited onto the background, not shown in their hidden colour", "[folder]") {
  const std::string dir = tmp_dir("folder_alpha");
  // 2x2 RGBA: opaque blue, transparent red (the trap), half-transparent green, opaque gray.
  const uint8_t rgba[16] = {0, 0, 255, 255, 255, 0, 0, 0, 0, 255, 0, 128, 90, 90, 90, 255};
  REQUIRE(stbi_write_png((dir + "/a.png").c_str(), 2, 2, 4, rgba, 8));
  uint8_t out[12];
  gan::FolderOptions o = options(3, 2);
  CHECK(gan::load_picture(dir + "/a.png", o, out));
  // planes: R = {0, 255, 127, 90}, G = {0, 255, 255, 90}, B = {255, 255, 127, 90}
  CHECK(std::vector<int>(out, out + 12) == std::vector<int>{0, 255, 127, 90, 0, 255, 255, 90, 255, 255, 127, 90});
  o.background = gan::Background::black;
  gan::load_picture(dir + "/a.png", o, out);
  CHECK(std::vector<int>(out, out + 12) == std::vector<int>{0, 0, 0, 90, 0, 0, 128, 90, 255, 0, 0, 90});
  // Gray + alpha into a 1-channel model.
  const uint8_t ga[4] = {200, 0, 10, 255};
  REQUIRE(stbi_write_png((dir + "/b.png").c_str(), 2, 1, 2, ga, 4));
  gan::FolderOptions g = options(1, 1);
  g.size = 1;
  uint8_t one = 0;
  CHECK_FALSE(gan::load_picture(dir + "/b.png", g, &one));  // not colour
  CHECK_THROWS_WITH(gan::parse_background("gray"), Contains("white or black"));
}

TEST_CASE("a folder is read recursively, and undecodable files are skipped, counted and named", "[folder]") {
  const std::string dir = tmp_dir("folder_tree");
  fs::create_directories(dir + "/sub/deeper");
  rgb_picture(dir + "/top.png", 6, 4, 1);
  rgb_picture(dir + "/sub/in_sub.png", 5, 5, 2);
  rgb_picture(dir + "/sub/deeper/deep.PNG", 8, 8, 3);
  std::ofstream(dir + "/sub/broken.jpg") << "not a picture";
  rgb_picture(dir + "/sub/truncated.png", 16, 16, 4);
  fs::resize_file(dir + "/sub/truncated.png", fs::file_size(dir + "/sub/truncated.png") / 2);
  std::ofstream(dir + "/notes.txt") << "ignored: not a picture name";
  const gan::FolderData f = gan::read_folder(dir, options(3, 4));
  CHECK(f.files == 5);
  CHECK(f.skipped == 2);
  REQUIRE(f.first_skipped.size() == 2);
  CHECK_THAT(f.first_skipped[0], Contains("broken.jpg"));
  CHECK_THAT(f.first_skipped[1], Contains("truncated.png"));
  REQUIRE(f.pictures->count() == 3);
  CHECK(f.pictures->files()[0] == dir + "/sub/deeper/deep.PNG");  // sorted by path
  CHECK(f.colour == 3);
  CHECK_FALSE(f.pictures->streaming());

  // The data set's notes say so, for the start of a run.
  gan::DataOptions d;
  d.progress = false;
  const gan::Dataset data = gan::load_dataset("folder:" + dir, true, 1, 4, d);
  REQUIRE(data.notes.size() == 2);
  CHECK_THAT(data.notes[0], Contains("skipped 2 of 5 picture files") && Contains("broken.jpg"));
  CHECK_THAT(data.notes[1], Contains("3 of 3 pictures") && Contains("in colour") && Contains("--channels 3"));

  const std::string empty = tmp_dir("folder_empty");
  fs::create_directories(empty + "/nothing/here");
  CHECK_THROWS_WITH(gan::read_folder(empty, options(3, 4)), Contains("no pictures") && Contains(empty));
  const std::string bad = tmp_dir("folder_all_bad");
  std::ofstream(bad + "/x.png") << "no";
  CHECK_THROWS_WITH(gan::read_folder(bad, options(3, 4)), Contains("none of its 1 picture files could be used") && Contains("x.png"));
  CHECK_THROWS_WITH(gan::read_folder(dir + "/top.png", options(3, 4)), Contains("not a folder"));
}

TEST_CASE("class folders: the first-level sub-folders are the classes, in name order", "[folder]") {
  const std::string dir = tmp_dir("folder_classes");
  for (const char* c : {"cats", "dogs", "empty"}) fs::create_directories(dir + "/" + c);
  fs::create_directories(dir + "/dogs/puppies");
  rgb_picture(dir + "/cats/1.png", 4, 4, 1);
  rgb_picture(dir + "/cats/2.png", 4, 4, 2);
  rgb_picture(dir + "/dogs/1.png", 4, 4, 3);
  rgb_picture(dir + "/dogs/puppies/1.png", 4, 4, 4);
  rgb_picture(dir + "/stray.png", 4, 4, 5);
  gan::DataOptions d;
  d.class_folders = true;
  d.progress = false;
  const gan::Dataset data = gan::load_dataset("folder:" + dir, true, 3, 4, d);
  CHECK(data.class_names == std::vector<std::string>{"cats", "dogs"});
  CHECK(data.num_classes == 2);
  CHECK(data.labels.to_vector() == std::vector<double>{0, 0, 1, 1});
  REQUIRE(data.notes.size() == 1);
  CHECK_THAT(data.notes[0], Contains("1 pictures directly in") && Contains("not used"));
  const std::string flat = tmp_dir("folder_flat");
  rgb_picture(flat + "/only.png", 4, 4, 1);
  CHECK_THROWS_WITH(gan::load_dataset("folder:" + flat, true, 3, 4, d), Contains("no class sub-folders"));
}

TEST_CASE("streamed pictures give the batches, flips and labels that pictures in memory give", "[folder]") {
  const std::string dir = tmp_dir("folder_stream");
  for (int c = 0; c < 2; ++c) {
    fs::create_directories(dir + "/class" + std::to_string(c));
    for (int i = 0; i < 11; ++i)
      rgb_picture(dir + "/class" + std::to_string(c) + "/p" + std::to_string(i) + ".png", 7 + i % 3, 6, c * 11 + i);
  }
  gan::DataOptions memory, stream;
  memory.class_folders = stream.class_folders = true;
  memory.progress = stream.progress = false;
  stream.memory_budget = 0;
  const gan::Dataset a = gan::load_dataset("folder:" + dir, true, 3, 8, memory);
  const gan::Dataset b = gan::load_dataset("folder:" + dir, true, 3, 8, stream);
  REQUIRE_FALSE(a.pictures->streaming());
  REQUIRE(b.pictures->streaming());
  gan::BatchLoader la(a, 4, 17, true), lb(b, 4, 17, true);
  bool some_flipped = false;
  for (int k = 0; k < 14; ++k) {  // 5 batches an epoch: across two epoch boundaries
    INFO("batch " << k);
    const gan::Batch x = la.next(), y = lb.next();
    CHECK(x.images.to_vector() == y.images.to_vector());
    CHECK(x.labels.to_vector() == y.labels.to_vector());
    CHECK(la.epoch() == lb.epoch());
    // A flip mirrors the image: compare with the unflipped gather of the same index.
    if (!some_flipped) {
      gan::BatchLoader plain(a, 4, 17, false);
      for (int j = 0; j <= k; ++j) plain.next();
      some_flipped = plain.next().images.to_vector() != x.images.to_vector();
    }
  }
  CHECK(some_flipped);
  // A resumed loader (seek) continues with the same batches in both.
  gan::BatchLoader ra(a, 4, 17, true), rb(b, 4, 17, true);
  ra.seek(1, 8);
  rb.seek(1, 8);
  for (int k = 0; k < 4; ++k) CHECK(ra.next().images.to_vector() == rb.next().images.to_vector());
  // A picture removed during the run is one clear error.
  fs::remove(b.pictures->files()[0]);
  std::vector<uint8_t> px(size_t(b.pictures->picture_bytes()));
  CHECK_THROWS_WITH(b.pictures->read(0, px.data()), Contains("the folder changed during the run"));
}

TEST_CASE("duel train on a folder larger than its memory budget streams it with the same batches",
          "[folder][train]") {
  const std::string dir = tmp_dir("folder_train_pictures");
  for (int i = 0; i < 40; ++i) rgb_picture(dir + "/p" + std::to_string(100 + i) + ".png", 20, 18, i);
  const std::string out = tmp_dir("folder_train");
  const std::string common = "train --model dcgan --image-size 16 --ngf 8 --ndf 8 --data folder:" + dir +
                             " --batch 8 --flip --seed 3";
  const test::Run memory = run_duel(common + " --steps 7 --out " + out + "/memory");
  INFO(memory.err);
  REQUIRE(memory.code == 0);
  const test::Run stream = run_duel(common + " --steps 7 --data-memory 0 --out " + out + "/stream");
  INFO(stream.err);
  REQUIRE(stream.code == 0);
  CHECK(stream.out.find("streamed from disk") != std::string::npos);
  CHECK(memory.out.find("streamed from disk") == std::string::npos);
  for (const char* f : {"checkpoint/G.safetensors", "checkpoint/D.safetensors", "samples/real.png"})
    CHECK(test::slurp(out + "/memory/" + f) == test::slurp(out + "/stream/" + f));
  // A 1-channel model on colour pictures: one warning line at the start.
  const test::Run gray = run_duel(common + " --steps 1 --channels 1 --out " + out + "/gray");
  REQUIRE(gray.code == 0);
  CHECK(gray.err.find("warning: 40 of 40 pictures") != std::string::npos);
  // Resuming with another budget is allowed (it does not change the batches); --flip is not.
  CHECK(run_duel("train --resume --steps 8 --data-memory 0 --out " + out + "/memory").code == 0);
  const test::Run flip = run_duel("train --resume --steps 9 --out " + out + "/stream --background black");
  CHECK(flip.code != 0);
  CHECK(flip.err.find("--background") != std::string::npos);
}
