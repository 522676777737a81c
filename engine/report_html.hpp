#pragma once
// The run report: one self-contained HTML file per run, next to the JSON and Markdown records,
// readable offline (inline CSS and SVG, no script, nothing fetched): a timeline of the steps, a
// chart of the migrations' durations, the locks they took, findings, checks, backups, failures.
#include <string>

#include <nlohmann/json.hpp>

namespace rb::report {

std::string html(const nlohmann::json& record);

}  // namespace rb::report
