// Properties of the reconciler over thousands of random change sequences
// (a seeded generator; every failure names its seed). Reproduce one case
// with CONSENTD_PROPERTY_SEED=<seed> CONSENTD_PROPERTY_CASES=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/may_contact.h"
#include "core/reconciler.h"
#include "tests/core/fixtures.h"

namespace consentd {
namespace {

using testing::kSubject;
using testing::World;

constexpr TimestampMs T = 1'700'000'000'000;

std::uint64_t EnvOr(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

// Runs `body(seed)` for each case until the first failure, which is
// reported with its seed.
void ForEachSeed(const std::function<void(std::uint64_t)>& body) {
  const std::uint64_t base = EnvOr("CONSENTD_PROPERTY_SEED", 20261129);
  const std::uint64_t cases = EnvOr("CONSENTD_PROPERTY_CASES", 2000);
  for (std::uint64_t i = 0; i < cases; ++i) {
    const std::uint64_t seed = base + i;
    SCOPED_TRACE("seed " + std::to_string(seed) + " (reproduce: CONSENTD_PROPERTY_SEED=" +
                 std::to_string(seed) + " CONSENTD_PROPERTY_CASES=1)");
    body(seed);
    if (::testing::Test::HasFailure()) return;
  }
}

struct GenOptions {
  bool grants = true;     // may generate status granted
  bool erasures = false;  // may generate erasure requests
};

// Random changes about one subject over a small key space, with capture
// times on a 250 ms grid (so exact ties and skew-window ties are common)
// and some exact redeliveries.
class ChangeGen {
 public:
  explicit ChangeGen(std::uint64_t seed) : rng_(seed) {}

  std::vector<Change> Sequence(const GenOptions& opt) {
    std::vector<Change> out;
    const int n = Pick(1, 24);
    for (int i = 0; i < n; ++i) {
      if (!out.empty() && Pick(0, 9) == 0) {
        out.push_back(out[Pick(0, static_cast<int>(out.size()) - 1)]);  // redelivery
        continue;
      }
      out.push_back(One(i, opt));
    }
    return out;
  }

  template <typename T>
  void Shuffle(std::vector<T>& v) {
    std::shuffle(v.begin(), v.end(), rng_);
  }

 private:
  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <typename T>
  const T& OneOf(const std::vector<T>& v) {
    return v[Pick(0, static_cast<int>(v.size()) - 1)];
  }

  Change One(int index, const GenOptions& opt) {
    Change c;
    c.key.subject = kSubject;
    c.provenance.occurred_at = T + 250 * Pick(0, 40);
    c.provenance.recorded_at = T + 100'000 + index;
    c.provenance.source_event_id = "e" + std::to_string(index);
    const int kind = Pick(0, 19);
    if (opt.erasures && kind == 0) {
      c.kind = ChangeKind::kErasure;
      c.provenance.source_system = OneOf<std::string>({"admin", "hubspot"});
      return c;
    }
    if (kind < 5) {
      c.kind = Pick(0, 1) ? ChangeKind::kBlockSet : ChangeKind::kBlockCleared;
      c.scope =
          OneOf<BlockScope>({BlockScope::All(), BlockScope::Channel("email"),
                             BlockScope::Topic("offers"), BlockScope::Address("a@example.com")});
      c.block_reason = OneOf<BlockReason>({BlockReason::kBounced, BlockReason::kManual});
      c.block_until = Pick(0, 1) ? 0 : c.provenance.occurred_at + 250 * Pick(1, 20);
      c.provenance.source_system = OneOf<std::string>({"hubspot", "mailchimp", "admin"});
      return c;
    }
    c.kind = ChangeKind::kConsent;
    c.key.topic = OneOf<std::string>({"offers", "newsletter"});
    c.key.channel = "email";
    c.key.address = OneOf<std::string>({"", "a@example.com"});
    std::vector<ConsentStatus> statuses = {ConsentStatus::kNotAsked, ConsentStatus::kPending,
                                           ConsentStatus::kWithdrawn, ConsentStatus::kRefused};
    if (opt.grants) statuses.insert(statuses.end(), 3, ConsentStatus::kGranted);
    c.status = OneOf(statuses);
    c.method = OneOf<ConsentMethod>(
        {ConsentMethod::kForm, ConsentMethod::kDoubleOptIn, ConsentMethod::kApi});
    c.provenance.source_system = OneOf<std::string>({"hubspot", "mailchimp", "legacy", "admin"});
    return c;
  }

  std::mt19937_64 rng_;
};

// Reconciles `changes` in order from an empty state, ignoring echo memory
// (ordering alone decides).
SubjectState Replay(const std::vector<Change>& changes, const Policy& policy) {
  SubjectState state;
  const EchoMemory no_echoes;
  const Tombstones no_tombstones;
  for (const Change& c : changes) {
    ApplyToState(Reconcile(c, state, no_echoes, no_tombstones, policy), kSubject, state);
  }
  return state;
}

TEST(ReconcilerProperty, SameChangesInAnyArrivalOrderConverge) {
  const Policy policy = testing::TestPolicy();
  int nontrivial = 0;
  ForEachSeed([&](std::uint64_t seed) {
    ChangeGen gen(seed);
    std::vector<Change> changes = gen.Sequence({});
    const SubjectState reference = Replay(changes, policy);
    nontrivial += reference.consents.size() + reference.blocks.size() > 1 ? 1 : 0;
    for (int round = 0; round < 3; ++round) {
      gen.Shuffle(changes);
      ASSERT_EQ(Replay(changes, policy), reference) << "arrival order changed the outcome";
    }
  });
  EXPECT_GT(nontrivial, 100);  // the generator really exercises several keys
}

TEST(ReconcilerProperty, ApplyingAChangeTwiceEqualsApplyingItOnce) {
  ForEachSeed([&](std::uint64_t seed) {
    ChangeGen gen(seed);
    const std::vector<Change> changes = gen.Sequence({.grants = true, .erasures = true});
    World once;
    World twice;
    for (const Change& c : changes) {
      once.Feed(c);
      twice.Feed(c);
      const Decision again = twice.Feed(c);
      ASSERT_FALSE(again.consent.has_value() || again.block.has_value() || again.erase_subject)
          << "second delivery changed state: " << OutcomeName(again.outcome) << " " << again.reason;
      ASSERT_EQ(twice.state, once.state);
    }
  });
}

// Every granted record is the value of an input grant (confirmed by double
// opt-in where the topic needs it), never a product of the rules.
void ExpectNoGrantWithoutGrantChange(const World& w, const std::map<std::string, Change>& by_id) {
  for (const auto& [key, rec] : w.state.consents) {
    if (rec.status != ConsentStatus::kGranted) continue;
    const auto it = by_id.find(rec.provenance.source_event_id);
    ASSERT_NE(it, by_id.end()) << "granted record from no change";
    EXPECT_EQ(it->second.status, ConsentStatus::kGranted) << "granted from a non-grant change";
    EXPECT_EQ(it->second.key, key);
    if (w.policy.FindTopic(key.topic)->requires_double_opt_in) {
      EXPECT_EQ(it->second.method, ConsentMethod::kDoubleOptIn)
          << "unconfirmed grant became granted";
    }
  }
}

TEST(ReconcilerProperty, NoSequenceYieldsGrantedWithoutAGrantChange) {
  ForEachSeed([&](std::uint64_t seed) {
    ChangeGen gen(seed);
    // Half the cases contain no grant at all: nothing may ever be granted.
    const bool grants = seed % 2 == 0;
    const std::vector<Change> changes = gen.Sequence({.grants = grants, .erasures = true});
    std::map<std::string, Change> by_id;
    for (const Change& c : changes) by_id.emplace(c.provenance.source_event_id, c);
    World w;
    for (const Change& c : changes) {
      const Decision d = w.Feed(c);
      ExpectNoGrantWithoutGrantChange(w, by_id);
      if (!grants) {
        for (const Write& wr : d.writes) ASSERT_NE(wr.desired, "granted");
        for (const std::string topic : {"offers", "newsletter"}) {
          ASSERT_FALSE(MayContact(w.state, kSubject, "email", topic, "", T + 20'000).allowed);
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
  });
}

TEST(ReconcilerProperty, EchoesOfOwnWritesNeverChangeStateOrWriteAgain) {
  ForEachSeed([&](std::uint64_t seed) {
    ChangeGen gen(seed);
    const std::vector<Change> changes = gen.Sequence({});
    World quiet;   // targets never answer
    World chatty;  // every target reports each write straight back
    for (const Change& c : changes) {
      quiet.Feed(c);
      const Decision d = chatty.Feed(c);
      for (const Write& wr : d.writes) {
        Change back = c;
        back.provenance = Provenance{c.provenance.recorded_at + 300, c.provenance.recorded_at + 400,
                                     wr.target, "echo-" + wr.idempotency_key};
        if (wr.kind == WriteKind::kConsent) {
          back.key = wr.consent.key;
          back.status = wr.consent.status;
        } else if (wr.kind == WriteKind::kBlock) {
          back.kind = wr.block.active ? ChangeKind::kBlockSet : ChangeKind::kBlockCleared;
          back.scope = wr.block.scope;
        }
        const Decision echo = chatty.Feed(back);
        ASSERT_EQ(echo.outcome, Outcome::kEcho) << echo.reason;
        ASSERT_TRUE(echo.writes.empty());
      }
      ASSERT_EQ(chatty.state, quiet.state);
    }
  });
}

}  // namespace
}  // namespace consentd
