#include "store/inbox_key.h"

#include <sqlite3.h>

#include <string>

#include "core/keyed_hash.h"
#include "store/sqlite_db.h"

namespace consentd::store {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return 0;  // Sha256Hex is lower-case hex: not reached
}

std::string_view TextArg(sqlite3_value* v) {
  const unsigned char* p = sqlite3_value_text(v);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_value_bytes(v))};
}

void InboxKeySql(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (argc != 2) {
    sqlite3_result_error(ctx, "consentd_inbox_key(source, event_id) takes two arguments", -1);
    return;
  }
  sqlite3_result_int64(ctx, InboxDedupeKey(TextArg(argv[0]), TextArg(argv[1])));
}

}  // namespace

std::int64_t InboxDedupeKey(std::string_view source, std::string_view event_id) {
  std::string input;
  input.reserve(source.size() + 1 + event_id.size());
  input.append(source);
  input.push_back('\0');
  input.append(event_id);
  const std::string hex = Sha256Hex(input);
  std::uint64_t key = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    key = (key << 4) | static_cast<std::uint64_t>(HexDigit(hex[i]));
  }
  return static_cast<std::int64_t>(key);  // two's complement: the same 64 bits
}

Status RegisterInboxKeyFunction(sqlite3* db) {
  const int rc =
      sqlite3_create_function_v2(db, "consentd_inbox_key", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                 nullptr, &InboxKeySql, nullptr, nullptr, nullptr);
  return SqliteStatus(rc, "register consentd_inbox_key");
}

}  // namespace consentd::store
