#include "meshos/time.hpp"

#include <cstdio>
#include <ctime>

namespace meshos {

std::string format_wall_ms(std::int64_t wall_ms) {
  std::int64_t seconds = wall_ms / 1000;
  std::int64_t millis = wall_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  if (::gmtime_r(&t, &utc) == nullptr) return std::to_string(wall_ms) + " ms";
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return text;
}

}  // namespace meshos
