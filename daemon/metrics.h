// A small Prometheus metrics registry: counters, gauges, histograms (each a
// family of label-value children) and gauges computed at scrape time, with
// the text exposition format 0.0.4 (HELP/TYPE lines, label escaping).
//
// Ownership: the Registry owns its families, a family its children; the
// references handed out stay valid for the Registry's lifetime, so hot
// paths look a child up once and keep the reference.
// Thread-safety: everything is thread-safe; updates are lock-free atomics,
// creating a child or rendering takes the family's mutex.
// Names: metric and label names that are not valid Prometheus names have
// their invalid characters replaced by '_' (they are chosen by code, not
// by users). Registering an existing name again returns the existing family
// when the type and label names match; otherwise the program is wrong and
// aborts (checked in every build type).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace consentd::metrics {

class Counter {
 public:
  // REQUIRES: v >= 0 (a counter only goes up).
  void Inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Dec(double v = 1.0) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing upper bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot Take() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0.0};
  std::atomic<std::uint64_t> count_{0};
};

// Default buckets for request latencies, in seconds.
std::vector<double> DefaultLatencyBuckets();

enum class MetricType { kCounter, kGauge, kHistogram };

namespace internal {
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;
  virtual void Render(std::string& out) const = 0;
  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

 protected:
  void RenderHeader(std::string& out) const;
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};
}  // namespace internal

// A metric with a fixed set of label names; one child per label-value tuple.
template <typename T>
class Family final : public internal::FamilyBase {
 public:
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        make_(std::move(make)) {}

  // The child for these label values (created on first use). REQUIRES:
  // values.size() == label_names().size(); missing values read as "".
  T& WithLabels(std::vector<std::string> values) {
    values.resize(label_names_.size());
    std::lock_guard lock(mu_);
    auto& slot = children_[std::move(values)];
    if (!slot) slot = make_();
    return *slot;
  }
  // The child without labels (for families declared without label names).
  T& Get() { return WithLabels({}); }

  void Render(std::string& out) const override;

 private:
  std::function<std::unique_ptr<T>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

template <>
void Family<Counter>::Render(std::string& out) const;
template <>
void Family<Gauge>::Render(std::string& out) const;
template <>
void Family<Histogram>::Render(std::string& out) const;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& AddCounter(std::string_view name, std::string_view help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string_view name, std::string_view help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds = DefaultLatencyBuckets());
  // A gauge whose value is computed at each scrape (uptime, queue depth).
  // `read` must be thread-safe and must not call back into the Registry.
  void AddCallbackGauge(std::string_view name, std::string_view help, std::function<double()> read);

  // A counter or gauge family whose children are read at each scrape, for
  // values another part already counts (a connector's request budget) or
  // a periodic refresh keeps (outbox depth per target). `read` returns one
  // value per label-value tuple (each of label_names.size() values); it
  // must be thread-safe and must not call back into the Registry. A
  // counter's values must never go down. REQUIRES: type is kCounter or
  // kGauge; the name is not registered yet (aborts otherwise).
  struct LabeledValue {
    std::vector<std::string> labels;
    double value = 0;
  };
  void AddCallbackFamily(std::string_view name, std::string_view help, MetricType type,
                         std::vector<std::string> label_names,
                         std::function<std::vector<LabeledValue>()> read);

  // The whole registry in the text exposition format, families by name.
  std::string Render() const;

  // Content-Type of Render()'s output.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  internal::FamilyBase* Find(const std::string& name, MetricType type,
                             const std::vector<std::string>& label_names);
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<internal::FamilyBase>> families_;
};

// Exposition helpers, exposed for tests and for other renderers.
std::string SanitizeName(std::string_view name, bool allow_colon = true);
std::string EscapeLabelValue(std::string_view v);  // \ " and newline
std::string EscapeHelp(std::string_view v);        // \ and newline
std::string FormatValue(double v);                 // shortest round-trip, +Inf, -Inf, NaN

}  // namespace consentd::metrics
