// Mailchimp's subscriber hash: the MD5 of the lower-cased e-mail address,
// as 32 lower-case hex digits. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace consentd::sim::mailchimp {

std::string Md5Hex(std::string_view data);

// ASCII lower-casing, as Mailchimp applies before hashing.
std::string LowerAscii(std::string_view s);

std::string SubscriberHash(std::string_view email);

}  // namespace consentd::sim::mailchimp
