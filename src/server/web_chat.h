// The web chat page served at / (src/server/web/index.html, built into the binary): one static
// page, no build step, nothing fetched from the internet.
#pragma once
#include <string_view>

namespace np::server {

std::string_view web_chat_html();

}  // namespace np::server
