// From the administrator's mapping to what the reconciler enforces, and the
// mapping's fingerprint.
//
// Pure and thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/policy.h"
#include "mapping/spec.h"

namespace consentd::mapping {

// The reconciler's Policy for `spec`:
//  * every topic, with its channels and double opt-in flag; its systems are
//    the systems it is bound in, with the core Direction its flow gives
//    them (both -> kBoth; crm_to_journey: CRM kInbound, journey kOutbound;
//    journey_to_crm the reverse; none -> no system: nothing is accepted
//    from or written to any system, only admin changes are recorded);
//  * block_systems: per system, the union over all blocks that have a side
//    there (core has one block direction per system; the mappers apply
//    each block's own direction on the native side);
//  * constraints: mailchimp systems re-subscribe via pending; a system whose
//    erasure mode is delete cannot re-add a deleted record;
//  * the skew window.
Policy ToPolicy(const MappingSpec& spec);

// The canonical serialisation of `spec` (JSON, keys sorted, no positions,
// no insignificant whitespace): what the hash covers.
std::string CanonicalMappingText(const MappingSpec& spec);

// Lower-case hex SHA-256 of CanonicalMappingText: the same mapping always
// gives the same hash, any change that alters behaviour changes it.
// Recorded with every decision (Change::mapping_hash).
std::string MappingHash(const MappingSpec& spec);

// What changed from `before` to `after`, one plain line each, in a stable
// order (topics, blocks, erasure, the rest), e.g. "topic newsletter
// removed: it no longer propagates", "topic news: direction both ->
// crm_to_journey". Recorded in the proof log's config_changed entry and
// logged on reload. Empty if the mappings have the same hash.
std::vector<std::string> DescribeMappingChange(const MappingSpec& before,
                                               const MappingSpec& after);

}  // namespace consentd::mapping
