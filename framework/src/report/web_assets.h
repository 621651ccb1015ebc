// The files under web/ compiled into the library (framework/CMakeLists.txt).
#pragma once

#include <string_view>

namespace cerebra::html::assets {

std::string_view chart_library();  // Chart.js, minified UMD bundle
std::string_view page_script();    // web/page.js: draws the page's charts

}  // namespace cerebra::html::assets
