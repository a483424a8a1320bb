// A run's config.json (gan/train_config.h), which `duel sample`, `duel eval` and --resume read:
// whatever it says, either a valid configuration or one duel::Error.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "gan/train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const duel::gan::TrainConfig c =
        duel::gan::config_from_json(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    duel::gan::validate(c, "config.json");  // what is read must pass the flags' checks
    // ... and survive a round trip unchanged.
    if (duel::gan::config_to_json(duel::gan::config_from_json(duel::gan::config_to_json(c), "again")) !=
        duel::gan::config_to_json(c))
      __builtin_trap();
  } catch (const duel::Error&) {
  }
  return 0;
}
