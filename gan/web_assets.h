// The web pages' scripts and styles (gan/web/), compiled into the program by
// cmake/embed_assets.cmake: charts.js (canvas line charts with a cursor, shared by lab.html and
// the studio), lab.css and lab_player.js (the offline lab page), studio.html, studio.css and
// studio.js (duel studio).
#pragma once

#include <string>
#include <string_view>

namespace duel::gan {

// The asset's bytes; throws for an unknown name.
std::string_view web_asset(const std::string& name);

}  // namespace duel::gan
