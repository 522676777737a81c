#pragma once
// HTTP requests over libcurl with timeout, retries and expectations on the response
// (status, JSON fields). TLS verification is on unless a request turns it off.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace rb {

struct HttpRequest {
  std::string method = "GET", url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  double timeout_s = 10;  // whole request, per attempt
  int retries = 0;        // extra attempts after a transport error or a 5xx status
  double retry_interval_s = 1;
  bool verify_tls = true;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  double time_ms = 0;  // of the last attempt
  int attempts = 0;
  std::string error;  // transport error text, empty when a response arrived
  // The run was interrupted (rb::cancel): the request in flight was stopped, or no further
  // attempt was made. attempts counts the ones that were started (0: nothing was sent).
  bool cancelled = false;
};

// Performs the request; retries on transport errors and 5xx. Never throws for transport
// problems: they are reported in HttpResponse::error. Stops at once when cancellation is
// requested (before an attempt, in a backoff wait, or during a transfer, within about a
// second) and reports it in HttpResponse::cancelled.
HttpResponse http_perform(const HttpRequest& request);

struct HttpExpectation {
  std::optional<long> status;
  // Dotted path ("parity.status", "items.0.name") -> expected value.
  std::vector<std::pair<std::string, nlohmann::json>> json_fields;
};

// Human-readable reasons the response does not meet the expectation; empty when it does.
std::vector<std::string> http_check_failures(const HttpResponse& response,
                                             const HttpExpectation& expectation);

// Sends the request until the expectation passes or request.retries extra attempts have
// been made, waiting request.retry_interval_s between attempts. failures is left empty on
// success, else holds the reasons of the last attempt. The response's attempts counts all.
// Cancellation stops it like http_perform (HttpResponse::cancelled).
HttpResponse http_check(const HttpRequest& request, const HttpExpectation& expectation,
                        std::vector<std::string>& failures);

}  // namespace rb
