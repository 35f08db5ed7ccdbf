#include "core/consent_types.h"

#include <array>
#include <utility>

namespace consentd {
namespace {

// One table per vocabulary: the enum and its stable name, so name and
// parse can never disagree.
template <typename E, std::size_t N>
using NameTable = std::array<std::pair<E, std::string_view>, N>;

constexpr NameTable<ConsentStatus, 5> kStatusNames{{
    {ConsentStatus::kNotAsked, "not_asked"},
    {ConsentStatus::kPending, "pending"},
    {ConsentStatus::kGranted, "granted"},
    {ConsentStatus::kWithdrawn, "withdrawn"},
    {ConsentStatus::kRefused, "refused"},
}};

constexpr NameTable<ConsentMethod, 6> kMethodNames{{
    {ConsentMethod::kForm, "form"},
    {ConsentMethod::kDoubleOptIn, "double_opt_in"},
    {ConsentMethod::kUnsubscribeLink, "unsubscribe_link"},
    {ConsentMethod::kAdmin, "admin"},
    {ConsentMethod::kApi, "api"},
    {ConsentMethod::kImport, "import"},
}};

constexpr NameTable<BlockReason, 5> kReasonNames{{
    {BlockReason::kUnsubscribed, "unsubscribed"},
    {BlockReason::kBounced, "bounced"},
    {BlockReason::kComplaint, "complaint"},
    {BlockReason::kManual, "manual"},
    {BlockReason::kLegal, "legal"},
}};

// DPV 2.3 eu-gdpr terms for Art. 6(1) (eu-gdpr-2.3-legal_basis.csv).
constexpr std::array<std::string_view, 16> kArt6Terms{
    "A6-1-a",
    "A6-1-a-explicit-consent",
    "A6-1-a-non-explicit-consent",
    "A6-1-b",
    "A6-1-b-contract-performance",
    "A6-1-b-enter-into-contract",
    "A6-1-c",
    "A6-1-d",
    "A6-1-d-data-subject",
    "A6-1-d-natural-person",
    "A6-1-e",
    "A6-1-e-official-authority",
    "A6-1-e-public-interest",
    "A6-1-f",
    "A6-1-f-controller",
    "A6-1-f-third-party",
};

constexpr std::string_view kGdprPrefix = "eu-gdpr:";
constexpr std::string_view kGdprIriBase = "https://w3id.org/dpv/legal/eu/gdpr#";

template <typename E, std::size_t N>
std::string_view NameOf(const NameTable<E, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

template <typename E, std::size_t N>
Result<E> Parse(const NameTable<E, N>& table, std::string_view name, std::string_view what) {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return InvalidArgument("unknown " + std::string(what) + " '" + std::string(name) + "'");
}

}  // namespace

std::string_view ConsentStatusName(ConsentStatus status) { return NameOf(kStatusNames, status); }
Result<ConsentStatus> ParseConsentStatus(std::string_view name) {
  return Parse(kStatusNames, name, "consent status");
}
bool IsRestrictive(ConsentStatus status) {
  return status == ConsentStatus::kWithdrawn || status == ConsentStatus::kRefused;
}

std::string_view ConsentMethodName(ConsentMethod method) { return NameOf(kMethodNames, method); }
Result<ConsentMethod> ParseConsentMethod(std::string_view name) {
  return Parse(kMethodNames, name, "consent method");
}

std::string_view BlockReasonName(BlockReason reason) { return NameOf(kReasonNames, reason); }
Result<BlockReason> ParseBlockReason(std::string_view name) {
  return Parse(kReasonNames, name, "block reason");
}

bool IsKnownLegalBasis(std::string_view basis) {
  if (!basis.starts_with(kGdprPrefix)) return false;
  basis.remove_prefix(kGdprPrefix.size());
  for (std::string_view term : kArt6Terms) {
    if (term == basis) return true;
  }
  return false;
}

Result<std::string> LegalBasisIri(std::string_view basis) {
  if (!IsKnownLegalBasis(basis)) {
    return InvalidArgument("unknown legal basis '" + std::string(basis) + "'");
  }
  return std::string(kGdprIriBase) + std::string(basis.substr(kGdprPrefix.size()));
}

}  // namespace consentd
