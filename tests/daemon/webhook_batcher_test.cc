// WebhookBatcher (daemon/webhook_batcher.h) on a real SQLite store: the
// webhooks that arrive while the store is busy become one submission, each
// is answered only after its commit is durable, and one failing webhook
// does not fail the others.
#include "daemon/webhook_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "store/sqlite_store.h"

namespace consentd::daemon {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "consentd-batcher-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Answers by event id, in the order they came.
struct Answers {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Status> by_event;
  std::vector<std::string> order;
  std::vector<int> duplicates;  // per answer, in `order`

  void Wait(std::size_t n) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return order.size() >= n; });
  }
  bool WaitFor(std::size_t n, std::chrono::seconds limit) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, [&] { return order.size() >= n; });
  }
};

// The store, with what each submission asked of its commit noted: a
// webhook's 2xx means it is on disk, so every one must ask for a durable
// commit (a cheaper one may be lost on power failure).
class DurabilityNotingStore : public store::Store {
 public:
  explicit DurabilityNotingStore(store::Store& inner) : inner_(inner) {}
  Status Close() override { return inner_.Close(); }
  bool IsOpen() const override { return inner_.IsOpen(); }
  std::uint64_t Heartbeat() const override { return inner_.Heartbeat(); }
  std::chrono::steady_clock::time_point LastHeartbeatAt() const override {
    return inner_.LastHeartbeatAt();
  }
  store::StoreStats stats() const override { return inner_.stats(); }
  int durable() const { return durable_.load(); }
  int not_durable() const { return not_durable_.load(); }

 protected:
  void DoSubmit(store::Work work, store::Done done, store::SubmitOptions options) override {
    (options.durable ? durable_ : not_durable_).fetch_add(1);
    inner_.Submit(std::move(work), std::move(done), options);
  }

 private:
  store::Store& inner_;
  std::atomic<int> durable_{0};
  std::atomic<int> not_durable_{0};
};

class WebhookBatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteStoreOptions options;
    options.path = dir_.File("s.db");
    auto s = store::SqliteStore::Open(std::move(options));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  // A batcher that stores each delivery's refs in the inbox and fails any
  // delivery whose first event id is "bad". "Posting" runs the closure at
  // once (on the store's completing thread), as a test io thread would.
  std::unique_ptr<WebhookBatcher> MakeBatcher(
      std::size_t max_group = 512, std::size_t max_pending = WebhookBatcher::kDefaultMaxPending) {
    return std::make_unique<WebhookBatcher>(
        [](store::Transaction& txn, const WebhookBatcher::Delivery& d) -> Result<int> {
          int dup = 0;
          for (const auto& ref : d.refs) {
            if (ref.event_id == "bad") return Internal("bad delivery");
            Result<bool> fresh = txn.InsertInbox({"test", ref.event_id, d.received_at, "{}"});
            if (!fresh.ok()) return fresh.status();
            if (!*fresh) ++dup;
          }
          return dup;
        },
        [this](WebhookBatcher::Delivery& d, const Status& s) {
          std::lock_guard lock(answers_.mu);
          answers_.by_event[d.refs[0].event_id] = s;
          answers_.duplicates.push_back(d.duplicates);
          answers_.order.push_back(d.refs[0].event_id);
          answers_.cv.notify_all();
        },
        [](std::function<void()> fn) { fn(); }, max_group, max_pending);
  }

  static WebhookBatcher::Delivery Make(const std::string& event_id) {
    connectors::RecordRef ref;
    ref.event_id = event_id;
    ref.system_id = "s-" + event_id;
    return {{ref}, 1000, [](net::HttpResponse) {}, 0};
  }

  // Keeps the store thread busy until the returned promise is set, so that
  // what is added meanwhile queues up.
  std::promise<void> HoldStore() {
    std::promise<void> release;
    auto released = std::make_shared<std::shared_future<void>>(release.get_future().share());
    store_->Submit(
        [released](store::Transaction&) {
          released->wait();
          return Status::Ok();
        },
        [](const Status&) {});
    return release;
  }

  bool InInbox(const std::string& event_id) {
    bool present = false;
    Status s = store_->Run([&](store::Transaction& txn) -> Status {
      Result<bool> fresh = txn.InsertInbox({"test", event_id, 1, "{}"});
      if (!fresh.ok()) return fresh.status();
      present = !*fresh;
      return Internal("roll back the probe");
    });
    EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
    return present;
  }

  TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_;
  Answers answers_;
};

TEST_F(WebhookBatcherTest, WebhooksQueuedWhileTheStoreIsBusyBecomeOneSubmission) {
  auto batcher = MakeBatcher();
  std::promise<void> release = HoldStore();
  for (int i = 0; i < 20; ++i) batcher->Add(*store_, Make("e" + std::to_string(i)));
  release.set_value();
  answers_.Wait(20);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(answers_.by_event["e" + std::to_string(i)].ok());
    EXPECT_TRUE(InInbox("e" + std::to_string(i))) << i;
  }
  // The holder, one group, and the probes of InInbox.
  EXPECT_EQ(store_->stats().submissions, 1u + 1u + 20u);
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back("e" + std::to_string(i));
  EXPECT_EQ(answers_.order, expected) << "answers keep arrival order";
}

TEST_F(WebhookBatcherTest, EveryWebhookIsStoredByADurableCommit) {
  auto batcher = MakeBatcher(/*max_group=*/4);
  DurabilityNotingStore noting(*store_);
  std::promise<void> release = HoldStore();
  for (int i = 0; i < 10; ++i) batcher->Add(noting, Make("d" + std::to_string(i)));
  release.set_value();
  answers_.Wait(10);
  EXPECT_GE(noting.durable(), 3);  // 10 webhooks in groups of at most 4
  EXPECT_EQ(noting.not_durable(), 0);
}

TEST_F(WebhookBatcherTest, AGroupNeverExceedsMaxGroup) {
  auto batcher = MakeBatcher(/*max_group=*/3);
  std::promise<void> release = HoldStore();
  for (int i = 0; i < 7; ++i) batcher->Add(*store_, Make("g" + std::to_string(i)));
  release.set_value();
  answers_.Wait(7);
  EXPECT_EQ(store_->stats().submissions, 1u + 3u);  // groups of 3, 3, 1
}

// A stalled store: the deliveries already waiting are kept (each will be
// answered), and beyond `max_pending` new ones are refused at once, not
// queued without bound; once answered, there is room again.
TEST_F(WebhookBatcherTest, BeyondMaxPendingADeliveryIsRefusedAtOnce) {
  auto batcher = MakeBatcher(/*max_group=*/2, /*max_pending=*/3);
  std::promise<void> release = HoldStore();
  for (int i = 0; i < 5; ++i) batcher->Add(*store_, Make("p" + std::to_string(i)));
  EXPECT_TRUE(answers_.WaitFor(2, std::chrono::seconds(10))) << "nothing refused at once";
  {
    std::lock_guard lock(answers_.mu);
    EXPECT_EQ(answers_.order, (std::vector<std::string>{"p3", "p4"}));
    EXPECT_EQ(answers_.by_event["p3"].code(), StatusCode::kUnavailable);
  }
  release.set_value();
  answers_.Wait(5);
  for (const char* e : {"p0", "p1", "p2"}) {
    EXPECT_TRUE(answers_.by_event[e].ok()) << e;
    EXPECT_TRUE(InInbox(e)) << e;
  }
  EXPECT_FALSE(InInbox("p3"));
  batcher->Add(*store_, Make("p5"));
  answers_.Wait(6);
  EXPECT_TRUE(answers_.by_event["p5"].ok());
}

TEST_F(WebhookBatcherTest, AFailingWebhookIsRefusedAloneAndTheOthersAreStored) {
  auto batcher = MakeBatcher();
  std::promise<void> release = HoldStore();
  batcher->Add(*store_, Make("a"));
  batcher->Add(*store_, Make("bad"));
  batcher->Add(*store_, Make("c"));
  release.set_value();
  answers_.Wait(3);
  EXPECT_TRUE(answers_.by_event["a"].ok()) << answers_.by_event["a"].ToString();
  EXPECT_TRUE(answers_.by_event["c"].ok()) << answers_.by_event["c"].ToString();
  EXPECT_EQ(answers_.by_event["bad"].code(), StatusCode::kInternal);
  EXPECT_TRUE(InInbox("a"));
  EXPECT_TRUE(InInbox("c"));
}

TEST_F(WebhookBatcherTest, DuplicatesAreCountedPerWebhookAlsoWithinOneGroup) {
  auto batcher = MakeBatcher();
  std::promise<void> release = HoldStore();
  WebhookBatcher::Delivery again = Make("x");
  again.refs[0].system_id = "other";  // same event id: a resend
  batcher->Add(*store_, Make("x"));
  batcher->Add(*store_, std::move(again));
  release.set_value();
  answers_.Wait(2);
  EXPECT_EQ(answers_.duplicates, (std::vector<int>{0, 1}));
  EXPECT_TRUE(answers_.by_event["x"].ok());
  EXPECT_EQ(store_->stats().submissions, 1u + 1u);
}

TEST_F(WebhookBatcherTest, AClosedStoreRefusesEveryWebhookWithAnAnswer) {
  auto batcher = MakeBatcher();
  ASSERT_TRUE(store_->Close().ok());
  batcher->Add(*store_, Make("late1"));
  batcher->Add(*store_, Make("late2"));
  answers_.Wait(2);
  EXPECT_EQ(answers_.by_event["late1"].code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(answers_.by_event["late2"].code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace consentd::daemon
