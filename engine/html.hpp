#pragma once
// The little HTML the project writes itself (the run report, the serve page): escaping only.
#include <string>

namespace rb::html {

// Text as HTML text or attribute value: & < > " ' replaced.
std::string escape(const std::string& text);

}  // namespace rb::html
