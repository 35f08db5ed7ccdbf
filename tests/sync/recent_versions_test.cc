// Versions decided or written lately, held in memory
// (sync/recent_versions.h): which reads are found, eviction, and the
// tombstone generation rule.
#include "sync/recent_versions.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace consentd::sync {
namespace {

connectors::InboundRecord Read(std::string event_id, std::string version = "") {
  connectors::InboundRecord r;
  r.event_id = std::move(event_id);
  r.version_id = std::move(version);
  r.system_id = "hash";
  return r;
}

std::vector<bool> HeldOf(const RecentVersions& w,
                         const std::vector<connectors::InboundRecord>& recs,
                         bool event_id_is_version) {
  HeldVersions h = w.Find(recs, event_id_is_version);
  if (h.held.empty()) h.held.assign(recs.size(), false);
  int count = 0;
  for (bool b : h.held) count += b ? 1 : 0;
  EXPECT_EQ(h.count, count);
  return h.held;
}

TEST(RecentVersionsTest, FindsTheReadBackOfAWrittenVersionByVersionIdOrPollEventId) {
  RecentVersions w;
  w.Remember("poll:a:1:x", 3);
  const std::vector<connectors::InboundRecord> hint = {Read("wh-1", "poll:a:1:x"),
                                                       Read("wh-2", "poll:a:2:y"), Read("wh-3")};
  EXPECT_EQ(HeldOf(w, hint, false), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(w.Find(hint, false).generation, 3);
  // A poll record's event id names its version.
  const std::vector<connectors::InboundRecord> page = {Read("poll:a:1:x"), Read("poll:b:1:z")};
  EXPECT_EQ(HeldOf(w, page, true), (std::vector<bool>{true, false}));
  EXPECT_EQ(HeldOf(w, page, false), (std::vector<bool>{false, false}));
}

TEST(RecentVersionsTest, ARecordThatMergesIdentitiesIsNeverHeld) {
  RecentVersions w;
  w.Remember("poll:a:1:x", 1);
  connectors::InboundRecord merged = Read("wh-1", "poll:a:1:x");
  merged.merged_ids = {"old-hash"};
  EXPECT_EQ(HeldOf(w, {merged}, false), (std::vector<bool>{false}));
}

TEST(RecentVersionsTest, ANewTombstoneGenerationForgetsEverythingAndAnOlderOneIsIgnored) {
  RecentVersions w;
  w.Remember("poll:a:1:x", 1);
  w.Remember("poll:b:1:y", 2);  // an erasure came: a:1:x may be an erased person's
  EXPECT_EQ(w.size(), 1u);
  EXPECT_EQ(HeldOf(w, {Read("poll:a:1:x"), Read("poll:b:1:y")}, true),
            (std::vector<bool>{false, true}));
  w.Remember("poll:c:1:z", 1);  // written before that erasure: not held
  EXPECT_EQ(HeldOf(w, {Read("poll:c:1:z")}, true), (std::vector<bool>{false}));
  EXPECT_EQ(w.Find({Read("poll:b:1:y")}, true).generation, 2);
}

TEST(RecentVersionsTest, TheOldestVersionGoesWhenTheMemoryIsFull) {
  RecentVersions w(3);
  for (const char* v : {"v1", "v2", "v3", "v2", "v4"}) w.Remember(v, 0);
  EXPECT_EQ(w.size(), 3u);
  EXPECT_EQ(HeldOf(w, {Read("v1"), Read("v2"), Read("v3"), Read("v4")}, true),
            (std::vector<bool>{false, true, true, true}));
  w.Remember("v5", 0);
  EXPECT_EQ(HeldOf(w, {Read("v2"), Read("v3"), Read("v4"), Read("v5")}, true),
            (std::vector<bool>{false, true, true, true}));
}

// "<slot>#<state>" in version_id: a slot holds one state; given a second
// one it is contested and none of its states is held. An id without '#'
// is a slot of its own, and so is an event id standing for the version.
TEST(RecentVersionsTest, ASlotGivenASecondStateHoldsNone) {
  RecentVersions w;
  w.Remember("poll:a:5#x", 1);
  w.Remember("poll:a:6", 1);
  EXPECT_EQ(HeldOf(w, {Read("wh", "poll:a:5#x"), Read("wh", "poll:a:5#y"), Read("poll:a:6")}, true),
            (std::vector<bool>{true, false, true}));
  w.Remember("poll:a:5#y", 1);
  EXPECT_EQ(w.size(), 2u);
  w.Remember("poll:a:5#x", 1);
  EXPECT_EQ(HeldOf(w, {Read("wh", "poll:a:5#x"), Read("wh", "poll:a:5#y")}, true),
            (std::vector<bool>{false, false}));
  // Event ids: "e#1" and "e#2" are two slots (VersionOf: "e#1#", "e#2#").
  w.Remember(VersionOf(Read("e#1"), true), 1);
  w.Remember(VersionOf(Read("e#2"), true), 1);
  EXPECT_EQ(HeldOf(w, {Read("e#1"), Read("e#2"), Read("e#3")}, true),
            (std::vector<bool>{true, true, false}));
}

}  // namespace
}  // namespace consentd::sync
