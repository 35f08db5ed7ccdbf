// Normalisation of contact identifiers: e-mail addresses and phone numbers.
// Every identifier is normalised before it is stored, compared, hashed into
// a tombstone or used as a consent/block address, so that two spellings of
// the same address can never hold two different consents.
//
// Pure and thread-safe. Garbage is rejected with InvalidArgument and a
// message that says what is wrong (never the address itself, so the
// message may be logged).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace consentd {

// Trims surrounding whitespace, keeps the local part as written (RFC 5321:
// it may be case-sensitive), lower-cases the domain and converts non-ASCII
// domain labels to their A-label ("xn--" + Punycode, RFC 3492). Non-ASCII
// labels are expected in NFC; upper-case letters of the Latin, Greek and
// Cyrillic blocks are lower-cased first. Rejects: empty, no or several '@',
// whitespace or control characters, quoted local parts, local part > 64
// octets, domain without a dot, empty/over-long labels, labels with
// characters other than letters, digits and '-', malformed UTF-8.
Result<std::string> NormaliseEmail(std::string_view raw);

// The form used to compare and hash e-mail addresses: the normalised
// address with its ASCII letters lower-cased (mailbox providers treat
// local parts case-insensitively, and so does the Mailchimp subscriber
// hash). REQUIRES: `normalised` came from NormaliseEmail.
std::string EmailMatchKey(std::string_view normalised);

// Normalises a phone number to E.164 ("+" followed by 7 to 15 digits).
// Accepts "+CC...", "00CC...", national numbers with a trunk "0" and
// national numbers without one, with spaces, '-', '.', '/', parentheses
// and a "tel:" prefix; drops the "(0)" written after a country code.
// `default_country_code` is the calling code used for national numbers,
// digits only ("49", "1", "353"). Rejects letters, several '+', numbers
// too short or too long and country codes starting with 0.
Result<std::string> NormalisePhone(std::string_view raw, std::string_view default_country_code);

}  // namespace consentd
