#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/daemon/prom_check.h"

namespace consentd::metrics {
namespace {

using testing::ParseExposition;

TEST(Metrics, RenderedRegistryIsValidExposition) {
  Registry r;
  r.AddCounter("consentd_requests_total", "Requests.", {"route", "status"})
      .WithLabels({"/healthz", "200"})
      .Inc(3);
  r.AddGauge("consentd_queue_depth", "Depth.").Get().Set(-2.5);
  auto& h = r.AddHistogram("consentd_latency_seconds", "Latency.", {"route"}, {0.1, 1});
  h.WithLabels({"/a"}).Observe(0.05);
  h.WithLabels({"/a"}).Observe(0.5);
  h.WithLabels({"/a"}).Observe(5);
  r.AddCallbackGauge("consentd_uptime_seconds", "Uptime.", [] { return 42.0; });

  auto e = ParseExposition(r.Render());
  EXPECT_EQ(e.errors, std::vector<std::string>{});
  EXPECT_EQ(e.types["consentd_requests_total"], "counter");
  EXPECT_EQ(e.types["consentd_latency_seconds"], "histogram");
  EXPECT_EQ(e.Value("consentd_requests_total", {{"route", "/healthz"}, {"status", "200"}}), 3);
  EXPECT_EQ(e.Value("consentd_queue_depth"), -2.5);
  EXPECT_EQ(e.Value("consentd_uptime_seconds"), 42);
  EXPECT_EQ(e.Value("consentd_latency_seconds_bucket", {{"route", "/a"}, {"le", "0.1"}}), 1);
  EXPECT_EQ(e.Value("consentd_latency_seconds_bucket", {{"route", "/a"}, {"le", "1"}}), 2);
  EXPECT_EQ(e.Value("consentd_latency_seconds_bucket", {{"route", "/a"}, {"le", "+Inf"}}), 3);
  EXPECT_EQ(e.Value("consentd_latency_seconds_count", {{"route", "/a"}}), 3);
  EXPECT_EQ(e.Value("consentd_latency_seconds_sum", {{"route", "/a"}}), 5.55);
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  Registry r;
  r.AddCounter("c_total", "Help with \\ and\nnewline.", {"v"})
      .WithLabels({"quote \" backslash \\ newline \n end"})
      .Inc();
  const std::string text = r.Render();
  EXPECT_NE(text.find(R"(v="quote \" backslash \\ newline \n end")"), std::string::npos) << text;
  auto e = ParseExposition(text);
  EXPECT_EQ(e.errors, std::vector<std::string>{});
  EXPECT_EQ(e.help["c_total"], "Help with \\ and\nnewline.");
  EXPECT_EQ(e.Value("c_total", {{"v", "quote \" backslash \\ newline \n end"}}), 1);
}

TEST(Metrics, InvalidNamesAreSanitized) {
  Registry r;
  r.AddCounter("bad-name.total", "x", {"bad label"}).WithLabels({"v"}).Inc();
  auto e = ParseExposition(r.Render());
  EXPECT_EQ(e.errors, std::vector<std::string>{});
  EXPECT_EQ(e.Value("bad_name_total", {{"bad_label", "v"}}), 1);
}

TEST(Metrics, RegisteringTheSameFamilyAgainReturnsIt) {
  Registry r;
  auto& a = r.AddCounter("x_total", "x", {"k"});
  auto& b = r.AddCounter("x_total", "x", {"k"});
  EXPECT_EQ(&a, &b);
}

TEST(Metrics, ConflictingRegistrationAborts) {
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("x_total", "x", {"k"});
        r.AddGauge("x_total", "x", {"k"});
      },
      "registered twice");
}

TEST(Metrics, CallbackFamilyRendersOneLabeledSamplePerValueReadAtScrape) {
  Registry r;
  double sent = 1;
  r.AddCallbackFamily("consentd_connector_requests_sent_total", "Requests.",
                      MetricType::kCounter, {"connector"}, [&sent] {
                        return std::vector<Registry::LabeledValue>{{{"mailchimp"}, 2},
                                                                   {{"hubspot"}, sent}};
                      });
  r.AddCallbackFamily("consentd_empty", "No children yet.", MetricType::kGauge, {"target"},
                      [] { return std::vector<Registry::LabeledValue>{}; });
  sent = 7;
  auto e = ParseExposition(r.Render());
  EXPECT_EQ(e.errors, std::vector<std::string>{});
  EXPECT_EQ(e.types["consentd_connector_requests_sent_total"], "counter");
  EXPECT_EQ(e.Value("consentd_connector_requests_sent_total", {{"connector", "hubspot"}}), 7);
  EXPECT_EQ(e.Value("consentd_connector_requests_sent_total", {{"connector", "mailchimp"}}), 2);
  // A family without children still announces itself (dashboards, alerts).
  EXPECT_EQ(e.types["consentd_empty"], "gauge");
}

TEST(Metrics, ValuesFormatAsPrometheusExpects) {
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
}

TEST(Metrics, ConcurrentIncrementsAreAllCounted) {
  Registry r;
  auto& c = r.AddCounter("n_total", "n", {"t"});
  auto& h = r.AddHistogram("d_seconds", "d", {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.WithLabels({std::to_string(t % 2)}).Inc();
        h.Get().Observe(0.01);
      }
    });
  }
  for (auto& t : threads) t.join();
  auto e = ParseExposition(r.Render());
  EXPECT_EQ(e.errors, std::vector<std::string>{});
  EXPECT_EQ(*e.Value("n_total", {{"t", "0"}}) + *e.Value("n_total", {{"t", "1"}}), 40000);
  EXPECT_EQ(e.Value("d_seconds_count"), 40000);
}

TEST(PromCheck, RejectsMalformedExposition) {
  EXPECT_FALSE(ParseExposition("x 1").errors.empty());                       // no newline
  EXPECT_FALSE(ParseExposition("x{a=\"b} 1\n").errors.empty());              // unterminated
  EXPECT_FALSE(ParseExposition("x{a=\"\\q\"} 1\n").errors.empty());          // bad escape
  EXPECT_FALSE(ParseExposition("x one\n").errors.empty());                   // bad value
  EXPECT_FALSE(ParseExposition("# TYPE x counter\nx -1\n").errors.empty());  // negative
  EXPECT_FALSE(ParseExposition("x 1\ny 1\nx{a=\"b\"} 1\n").errors.empty());  // not contiguous
  EXPECT_FALSE(ParseExposition("x 1\n# TYPE x gauge\n").errors.empty());     // late TYPE
  EXPECT_FALSE(ParseExposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                               "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")
                   .errors.empty());  // not cumulative
  EXPECT_FALSE(ParseExposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n")
                   .errors.empty());  // count differs
  EXPECT_TRUE(ParseExposition("# HELP x h\n# TYPE x gauge\nx{a=\"1\"} 1.5e3\n").errors.empty());
}

}  // namespace
}  // namespace consentd::metrics
