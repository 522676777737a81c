#include "engine/http.hpp"

#include <curl/curl.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "engine/cancel.hpp"

namespace rb {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("cannot initialise libcurl");
  });
}

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// libcurl calls this during a transfer (about once a second at the least, even while
// waiting): non-zero aborts the transfer with CURLE_ABORTED_BY_CALLBACK.
int stop_if_cancelled(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return cancel::requested() ? 1 : 0;
}

long to_ms(double seconds) {
  return seconds > 0 ? static_cast<long>(seconds * 1000.0 + 0.5) : 0;
}

// One attempt: fills status/body/time_ms/error of `response`.
void perform_once(const HttpRequest& request, HttpResponse& response) {
  response.status = 0;
  response.body.clear();
  response.error.clear();
  response.time_ms = 0;

  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) {
    response.error = "cannot create a libcurl handle";
    return;
  }
  CURL* c = curl.get();
  std::unique_ptr<curl_slist, ListDeleter> headers;
  auto add_header = [&headers](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (!next) throw std::bad_alloc();
    (void)headers.release();
    headers.reset(next);
  };
  for (const auto& [name, value] : request.headers) add_header(name + ": " + value);
  add_header("Expect:");  // no 100-continue round trip for larger bodies

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, to_ms(request.timeout_s));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, to_ms(request.timeout_s));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, request.verify_tls ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, request.verify_tls ? 2L : 0L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "runbook");
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stop_if_cancelled);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);

  const std::string& method = request.method;
  if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (method != "GET" || !request.body.empty()) {
    if (method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  curl_off_t total_us = 0;
  if (curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK)
    response.time_ms = static_cast<double>(total_us) / 1000.0;
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    response.cancelled = true;
    response.error = "stopped: the run was interrupted by " + cancel::reason();
    response.body.clear();
    return;
  }
  if (rc != CURLE_OK) {
    response.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    response.body.clear();
    return;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
}

// Waits between attempts; false when cancellation arrived (before or during the wait).
bool pause(double seconds) {
  if (seconds > 0) return cancel::sleep_for(seconds);
  return !cancel::requested();
}

// Follows a dotted path through objects (by key) and arrays (by index).
const nlohmann::json* find_path(const nlohmann::json& doc, const std::string& path) {
  const nlohmann::json* at = &doc;
  std::size_t begin = 0;
  for (;;) {
    std::size_t end = path.find('.', begin);
    std::string part = path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (at->is_object()) {
      auto it = at->find(part);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array() && !part.empty() &&
               part.find_first_not_of("0123456789") == std::string::npos) {
      std::size_t index = std::strtoull(part.c_str(), nullptr, 10);
      if (index >= at->size()) return nullptr;
      at = &(*at)[index];
    } else {
      return nullptr;
    }
    if (end == std::string::npos) return at;
    begin = end + 1;
  }
}

}  // namespace

HttpResponse http_perform(const HttpRequest& request) {
  global_init();
  HttpResponse response;
  const int attempts = 1 + (request.retries > 0 ? request.retries : 0);
  for (int i = 1; i <= attempts; ++i) {
    if (cancel::requested()) {
      response.cancelled = true;
      break;
    }
    response.attempts = i;
    perform_once(request, response);
    if (response.cancelled) break;
    bool retryable = !response.error.empty() || response.status >= 500;
    if (!retryable || i == attempts) break;
    if (!pause(request.retry_interval_s)) {
      response.cancelled = true;
      break;
    }
  }
  return response;
}

std::vector<std::string> http_check_failures(const HttpResponse& response,
                                             const HttpExpectation& expectation) {
  std::vector<std::string> failures;
  if (!response.error.empty()) {
    failures.push_back(response.error);
    return failures;
  }
  if (expectation.status && response.status != *expectation.status)
    failures.push_back("status " + std::to_string(response.status) + ", expected " +
                       std::to_string(*expectation.status));
  if (expectation.json_fields.empty()) return failures;
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_discarded()) {
    failures.push_back("body is not JSON");
    return failures;
  }
  for (const auto& [path, expected] : expectation.json_fields) {
    const nlohmann::json* actual = find_path(doc, path);
    if (!actual)
      failures.push_back("no field " + path);
    else if (*actual != expected)
      failures.push_back(path + " is " + actual->dump() + ", expected " + expected.dump());
  }
  return failures;
}

HttpResponse http_check(const HttpRequest& request, const HttpExpectation& expectation,
                        std::vector<std::string>& failures) {
  HttpRequest once = request;
  once.retries = 0;
  const int attempts = 1 + (request.retries > 0 ? request.retries : 0);
  HttpResponse response;
  for (int i = 1; i <= attempts; ++i) {
    response = http_perform(once);
    response.attempts = response.attempts == 0 ? i - 1 : i;  // 0: cancelled before sending
    failures = http_check_failures(response, expectation);
    if (response.cancelled || failures.empty() || i == attempts) break;
    if (!pause(request.retry_interval_s)) {
      response.cancelled = true;
      break;
    }
  }
  return response;
}

}  // namespace rb
