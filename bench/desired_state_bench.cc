// The desired-state codec's encoders (connectors/common/desired_state.h):
// every outbox row, consent row and block row is written through them, on
// the store's serial path. Prints the median of 5 runs, µs per encode.
//
//   build/release/bench/desired_state_bench [iterations]   (default 200000)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "connectors/common/desired_state.h"

namespace {

using consentd::BlockReason;
using consentd::BlockRecord;
using consentd::BlockScope;
using consentd::ConsentMethod;
using consentd::ConsentRecord;
using consentd::ConsentStatus;
using consentd::connectors::DesiredState;

// A person as an initial sync writes them: four topics, one channel block.
DesiredState Person() {
  DesiredState d;
  d.subject = "s-6b0e1b990a83d284";
  d.email = "anna.muster@example.org";
  d.system_id = "a1b2c3d4e5";
  d.mapping_hash = "9f2c1e7a55d04b3c";
  d.reconsent_topics = {"newsletter"};
  d.state.subject = d.subject;
  for (const char* topic : {"newsletter", "product_news", "events", "offers"}) {
    ConsentRecord c;
    c.key = {d.subject, topic, "email", ""};
    c.status = ConsentStatus::kGranted;
    c.legal_basis = "eu-gdpr:A6-1-a";
    c.method = ConsentMethod::kDoubleOptIn;
    c.notice_version = "2026-01";
    c.provenance = {1764547200123, 1764547200456, "hubspot", "hs-contact-1234567890-v17"};
    d.state.consents[c.key] = c;
  }
  BlockRecord b;
  b.subject = d.subject;
  b.scope = BlockScope::Channel("email");
  b.active = true;
  b.reason = BlockReason::kUnsubscribed;
  b.since = 1764547200123;
  b.provenance = {1764547200123, 1764547200456, "mailchimp", "mc-ev-2"};
  d.state.blocks[b.scope] = b;
  return d;
}

template <typename F>
double MedianMicros(int iterations, F&& encode) {
  std::vector<double> runs;
  std::size_t sink = 0;
  for (int r = 0; r < 5; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) sink += encode().size();
    const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
    runs.push_back(took.count() / iterations);
  }
  std::sort(runs.begin(), runs.end());
  if (sink == 42) std::puts("");  // keeps the loop
  return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 200000;
  const DesiredState person = Person();
  const ConsentRecord& consent = person.state.consents.begin()->second;
  const BlockRecord& block = person.state.blocks.begin()->second;
  std::printf("desired state (4 consents, 1 block): %.3f us\n", MedianMicros(iterations, [&] {
                return consentd::connectors::EncodeDesiredState(person);
              }));
  std::printf("consent record: %.3f us\n", MedianMicros(iterations, [&] {
                return consentd::connectors::EncodeConsentRecord(consent);
              }));
  std::printf("block record: %.3f us\n", MedianMicros(iterations, [&] {
                return consentd::connectors::EncodeBlockRecord(block);
              }));
  return 0;
}
