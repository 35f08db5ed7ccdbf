// Stored webhook hints must come back exactly as they were accepted.
#include "sync/hint_codec.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace consentd::sync
