// `duel studio` in a build without cpp-httplib: one clear error instead of a server.
#include "core/error.h"
#include "studio/studio.h"

namespace duel::studio {

int run_studio(const StudioOptions&) {
  fail("studio: this duel was built without cpp-httplib (Debian package libcpp-httplib-dev; "
       "scripts/setup.sh installs it), so it has no web server: rebuild after installing it");
}

}  // namespace duel::studio
