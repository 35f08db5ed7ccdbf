// Stored webhook hints must come back exactly as they were accepted.
#include "sync/hint_codec.h"

#include <gtest/gtest.h>

#include <string>

namespace consentd::sync {
namespace {

TEST(SyncHintCodec, RoundTripsEveryField) {
  connectors::RecordRef ref;
  ref.event_id = "ev-1";
  ref.system_id = "101";
  ref.email = "anna@example.org";
  ref.hint = connectors::RecordHint::kMerged;
  ref.merged_ids = {"102", "103"};
  ref.old_email = "old@example.org";
  ref.occurred_at = 1234;
  Result<connectors::RecordRef> back = DecodeRecordRef(EncodeRecordRef(ref));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->event_id, ref.event_id);
  EXPECT_EQ(back->system_id, ref.system_id);
  EXPECT_EQ(back->email, ref.email);
  EXPECT_EQ(back->hint, ref.hint);
  EXPECT_EQ(back->merged_ids, ref.merged_ids);
  EXPECT_EQ(back->old_email, ref.old_email);
  EXPECT_EQ(back->occurred_at, ref.occurred_at);
}

TEST(SyncHintCodec, RoundTripsASelfContainedEvent) {
  connectors::RecordRef ref;
  ref.event_id = "evt-7";
  ref.system_id = "c-1";
  ref.event_json = R"({"id":"evt-7","type":"subject.erased","data":{}})";
  Result<connectors::RecordRef> back = DecodeRecordRef(EncodeRecordRef(ref));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->event_json, ref.event_json);
}

TEST(SyncHintCodec, PlainHintsStayWithoutEventAndOldPayloadsDecode) {
  connectors::RecordRef ref;
  ref.event_id = "ev-1";
  EXPECT_EQ(EncodeRecordRef(ref).find("event_json"), std::string::npos);
  // A payload written before event_json existed.
  Result<connectors::RecordRef> old = DecodeRecordRef(R"({"event_id":"ev-1","hint":"changed"})");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_TRUE(old->event_json.empty());
  Result<connectors::RecordRef> bad = DecodeRecordRef(R"({"event_json":{"id":"x"}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("event_json"), std::string::npos);
}

TEST(SyncHintCodec, MalformedPayloadNamesTheField) {
  Result<connectors::RecordRef> r = DecodeRecordRef(R"({"hint":"exploded"})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("hint"), std::string::npos);
  r = DecodeRecordRef(R"({"merged_ids":"102"})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("merged_ids"), std::string::npos);
  EXPECT_FALSE(DecodeRecordRef("{").ok());
}

TEST(SyncHintCodec, WritesTheCompactFormAndStillReadsJsonRowsOfOlderVersions) {
  connectors::RecordRef ref;
  ref.event_id = "ev-9";
  ref.system_id = "101";
  ref.email = "anna@example.org";
  ref.hint = connectors::RecordHint::kEmailChanged;
  ref.old_email = "old@example.org";
  ref.occurred_at = -5;
  const std::string compact = EncodeRecordRef(ref);
  EXPECT_EQ(compact.rfind("h2", 0), 0u);
  // The same hint as an older binary stored it.
  Result<connectors::RecordRef> json = DecodeRecordRef(
      R"({"event_id":"ev-9","system_id":"101","email":"anna@example.org",)"
      R"("hint":"email_changed","merged_ids":[],"old_email":"old@example.org","occurred_at":-5})");
  Result<connectors::RecordRef> back = DecodeRecordRef(compact);
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  for (const connectors::RecordRef* r : {&*json, &*back}) {
    EXPECT_EQ(r->event_id, "ev-9");
    EXPECT_EQ(r->system_id, "101");
    EXPECT_EQ(r->email, "anna@example.org");
    EXPECT_EQ(r->hint, connectors::RecordHint::kEmailChanged);
    EXPECT_EQ(r->old_email, "old@example.org");
    EXPECT_EQ(r->occurred_at, -5);
    EXPECT_TRUE(r->merged_ids.empty());
  }
}

TEST(SyncHintCodec, CompactFieldsMayHoldAnyBytes) {
  connectors::RecordRef ref;
  ref.event_id = "12:34";
  ref.system_id = "";
  ref.email = std::string("a\0b:c", 5);
  ref.merged_ids = {"", "7:x", "h2"};
  ref.event_json = "{\"a\":\"1:2\"}";
  Result<connectors::RecordRef> back = DecodeRecordRef(EncodeRecordRef(ref));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->event_id, ref.event_id);
  EXPECT_EQ(back->email, ref.email);
  EXPECT_EQ(back->merged_ids, ref.merged_ids);
  EXPECT_EQ(back->event_json, ref.event_json);
}

TEST(SyncHintCodec, DamagedCompactPayloadNamesTheField) {
  connectors::RecordRef ref;
  ref.event_id = "ev-1";
  ref.email = "anna@example.org";
  const std::string good = EncodeRecordRef(ref);
  Result<connectors::RecordRef> r = DecodeRecordRef(good.substr(0, good.find("anna") + 2));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("email"), std::string::npos) << r.status().message();
  r = DecodeRecordRef("h24:ev-10:0:7:changed0:1:x0:");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("occurred_at"), std::string::npos) << r.status().message();
  r = DecodeRecordRef("h24:ev-10:0:5:blown0:1:10:");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("hint"), std::string::npos) << r.status().message();
  EXPECT_FALSE(DecodeRecordRef("h2x:").ok());
}

}  // namespace
}  // namespace consentd::sync
