// A GAN of your own in one file: its own generator and critic built from duel's modules, trained
// with duel's step (GanStep) and losses on pictures it draws itself (bright squares on a dark
// background, 16x16), writing a grid of samples. Build it against the installed library:
//   cmake -S examples -B build-examples -DCMAKE_PREFIX_PATH=PREFIX && cmake --build build-examples
//   build-examples/custom_gan [steps (300)] [out dir (custom_gan_out)]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <duel/duel.h>

using namespace duel;

// G: z [B, 32, 1, 1] -> 4x4 -> 8x8 -> 16x16 images in [-1, 1]; D: images -> one score each.
class SquaresGan : public gan::Adversaries {
 public:
  SquaresGan() : g_(std::make_shared<nn::Sequential>()), d_(std::make_shared<nn::Sequential>()) {
    g_->add(std::make_shared<nn::ConvTranspose2d>(kNz, 64, 4, 1, 0, false))
        .add(std::make_shared<nn::BatchNorm2d>(64)).add(std::make_shared<nn::ReLU>())
        .add(std::make_shared<nn::Upsample>(2)).add(std::make_shared<nn::Conv2d>(64, 32, 3, 1, 1, false))
        .add(std::make_shared<nn::BatchNorm2d>(32)).add(std::make_shared<nn::ReLU>())
        .add(std::make_shared<nn::Upsample>(2)).add(std::make_shared<nn::Conv2d>(32, 1, 3, 1, 1, false))
        .add(std::make_shared<nn::Tanh>());
    d_->add(std::make_shared<nn::Conv2d>(1, 32, 4, 2, 1)).add(std::make_shared<nn::LeakyReLU>(0.2))
        .add(std::make_shared<nn::Conv2d>(32, 64, 4, 2, 1)).add(std::make_shared<nn::LeakyReLU>(0.2))
        .add(std::make_shared<nn::Flatten>()).add(std::make_shared<nn::Linear>(64 * 4 * 4, 1));
  }
  static constexpr int64_t kNz = 32;
  Tensor generate(const Tensor& z) { return (*g_)(z); }
  Tensor critic(const Tensor& x, const Tensor&) override { return reshape((*d_)(x), {x.size(0)}); }
  nn::Module& G() override { return *g_; }
  nn::Module& D() override { return *d_; }

 private:
  std::shared_ptr<nn::Sequential> g_, d_;
};

// n pictures of one bright square (4 to 8 pixels wide) at a random place: a data set with an
// obvious structure for G to find.
gan::Dataset squares(int64_t n, Generator& gen) {
  gan::Dataset data;
  data.images = full({n, 1, 16, 16}, -1.0);
  const std::vector<double> u = uniform({n, 3}, 0, 1, gen, DType::f64).to_vector();
  float* px = data.images.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t side = 4 + int64_t(u[i * 3] * 5), top = int64_t(u[i * 3 + 1] * (17 - side)),
                  left = int64_t(u[i * 3 + 2] * (17 - side));
    for (int64_t y = top; y < top + side; ++y)
      for (int64_t x = left; x < left + side; ++x) px[i * 256 + y * 16 + x] = 1.0f;
  }
  data.description = "squares";
  return data;
}

int main(int argc, char** argv) try {
  const int64_t steps = argc > 1 ? std::atoll(argv[1]) : 300, batch = 64;
  const std::string out = argc > 2 ? argv[2] : "custom_gan_out";
  std::filesystem::create_directories(out);
  Generator gen(7);
  const gan::Dataset data = squares(2048, gen);
  gan::BatchLoader loader(data, batch, 7);

  SquaresGan model;
  nn::reset_all(model.G(), gen);  // PyTorch's default initialisation, then the DCGAN paper's
  nn::reset_all(model.D(), gen);
  nn::dcgan_init(model.G(), gen);
  nn::dcgan_init(model.D(), gen);
  gan::GanStep step(model, gan::defaults_for(gan::LossKind::ns));  // Adam 2e-4, betas 0.5/0.999

  const Tensor fixed_z = randn({64, SquaresGan::kNz, 1, 1}, gen);
  for (int64_t s = 1; s <= steps; ++s) {
    const Tensor real = loader.next().images;
    const Tensor fake = model.generate(randn({batch, SquaresGan::kNz, 1, 1}, gen));
    const gan::DStats d = step.d_update(real, Tensor(), fake, Tensor());  // fake is detached inside
    const gan::GStats g = step.g_update(fake, Tensor());                  // through the updated D
    if (s % 50 == 0 || s == steps)
      std::printf("step %lld  loss_D %.4f  loss_G %.4f  D(x) %.3f  D(G(z)) %.3f\n", (long long)s, d.loss.item(),
                  g.loss.item(), gan::mean_output(gan::LossKind::ns, d.d_real),
                  gan::mean_output(gan::LossKind::ns, d.d_fake));
  }
  NoGradGuard no_grad;
  model.G().eval();  // running batch-norm statistics for sampling
  gan::save_image_grid(out + "/samples.png", model.generate(fixed_z), 8);
  nn::save_module(model.G(), out + "/G.safetensors");
  std::printf("wrote %s/samples.png and %s/G.safetensors (duel %s)\n", out.c_str(), out.c_str(), version());
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "custom_gan: %s\n", e.what());
  return 1;
}
