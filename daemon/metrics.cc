#include "daemon/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace consentd::metrics {

namespace {

void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out.push_back('{');
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out.push_back(',');
    first = false;
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(i < values.size() ? values[i] : std::string());
    out.push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first) out.push_back(',');
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out.push_back('"');
  }
  out.push_back('}');
}

void AppendSample(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, double v,
                  std::string_view extra_name = {}, std::string_view extra_value = {}) {
  out += name;
  AppendLabels(out, names, values, extra_name, extra_value);
  out.push_back(' ');
  out += FormatValue(v);
  out.push_back('\n');
}

class CallbackGauge final : public internal::FamilyBase {
 public:
  CallbackGauge(std::string name, std::string help, std::function<double()> read)
      : FamilyBase(std::move(name), std::move(help), MetricType::kGauge, {}),
        read_(std::move(read)) {}
  void Render(std::string& out) const override {
    RenderHeader(out);
    AppendSample(out, name_, {}, {}, read_());
  }

 private:
  std::function<double()> read_;
};

class CallbackFamily final : public internal::FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, MetricType type,
                 std::vector<std::string> label_names,
                 std::function<std::vector<Registry::LabeledValue>()> read)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        read_(std::move(read)) {}
  void Render(std::string& out) const override {
    RenderHeader(out);
    std::vector<Registry::LabeledValue> values = read_();
    // Sorted like the other families, so that scrapes are stable.
    std::sort(values.begin(), values.end(),
              [](const auto& a, const auto& b) { return a.labels < b.labels; });
    for (auto& v : values) {
      v.labels.resize(label_names_.size());
      AppendSample(out, name_, label_names_, v.labels, v.value);
    }
  }

 private:
  std::function<std::vector<Registry::LabeledValue>()> read_;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "metrics registry misuse: %s\n", what.c_str());
  std::abort();
}

std::vector<std::string> SanitizeLabels(std::vector<std::string> names) {
  for (auto& n : names) n = SanitizeName(n, /*allow_colon=*/false);
  return names;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 1; i < bounds_.size(); ++i) {
    if (!(bounds_[i - 1] < bounds_[i])) Die("histogram bounds must increase");
  }
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  s.bounds = bounds_;
  std::uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  // The count is the +Inf bucket, so that a scrape is self-consistent even
  // while observations race with it.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

void internal::FamilyBase::RenderHeader(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out.push_back(' ');
  out += EscapeHelp(help_);
  out += "\n# TYPE ";
  out += name_;
  switch (type_) {
    case MetricType::kCounter:
      out += " counter\n";
      break;
    case MetricType::kGauge:
      out += " gauge\n";
      break;
    case MetricType::kHistogram:
      out += " histogram\n";
      break;
  }
}

template <>
void Family<Counter>::Render(std::string& out) const {
  RenderHeader(out);
  std::lock_guard lock(mu_);
  for (const auto& [values, c] : children_) {
    AppendSample(out, name_, label_names_, values, c->Value());
  }
}

template <>
void Family<Gauge>::Render(std::string& out) const {
  RenderHeader(out);
  std::lock_guard lock(mu_);
  for (const auto& [values, g] : children_) {
    AppendSample(out, name_, label_names_, values, g->Value());
  }
}

template <>
void Family<Histogram>::Render(std::string& out) const {
  RenderHeader(out);
  std::lock_guard lock(mu_);
  for (const auto& [values, h] : children_) {
    const Histogram::Snapshot s = h->Take();
    for (size_t i = 0; i <= s.bounds.size(); ++i) {
      const std::string le = i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
      AppendSample(out, name_ + "_bucket", label_names_, values,
                   static_cast<double>(s.cumulative[i]), "le", le);
    }
    AppendSample(out, name_ + "_sum", label_names_, values, s.sum);
    AppendSample(out, name_ + "_count", label_names_, values, static_cast<double>(s.count));
  }
}

internal::FamilyBase* Registry::Find(const std::string& name, MetricType type,
                                     const std::vector<std::string>& label_names) {
  auto it = families_.find(name);
  if (it == families_.end()) return nullptr;
  if (it->second->type() != type || it->second->label_names() != label_names) {
    Die("metric '" + name + "' registered twice with different type or labels");
  }
  return it->second.get();
}

Family<Counter>& Registry::AddCounter(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names) {
  std::string n = SanitizeName(name);
  label_names = SanitizeLabels(std::move(label_names));
  std::lock_guard lock(mu_);
  if (auto* f = Find(n, MetricType::kCounter, label_names))
    return static_cast<Family<Counter>&>(*f);
  auto family = std::make_unique<Family<Counter>>(n, std::string(help), MetricType::kCounter,
                                                  std::move(label_names),
                                                  [] { return std::make_unique<Counter>(); });
  auto& ref = *family;
  families_[n] = std::move(family);
  return ref;
}

Family<Gauge>& Registry::AddGauge(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names) {
  std::string n = SanitizeName(name);
  label_names = SanitizeLabels(std::move(label_names));
  std::lock_guard lock(mu_);
  if (auto* f = Find(n, MetricType::kGauge, label_names)) return static_cast<Family<Gauge>&>(*f);
  auto family = std::make_unique<Family<Gauge>>(n, std::string(help), MetricType::kGauge,
                                                std::move(label_names),
                                                [] { return std::make_unique<Gauge>(); });
  auto& ref = *family;
  families_[n] = std::move(family);
  return ref;
}

Family<Histogram>& Registry::AddHistogram(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  std::string n = SanitizeName(name);
  label_names = SanitizeLabels(std::move(label_names));
  for (const auto& l : label_names) {
    if (l == "le") Die("histogram '" + n + "' must not use the label 'le'");
  }
  std::lock_guard lock(mu_);
  if (auto* f = Find(n, MetricType::kHistogram, label_names)) {
    return static_cast<Family<Histogram>&>(*f);
  }
  auto family = std::make_unique<Family<Histogram>>(
      n, std::string(help), MetricType::kHistogram, std::move(label_names),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); });
  auto& ref = *family;
  families_[n] = std::move(family);
  return ref;
}

void Registry::AddCallbackGauge(std::string_view name, std::string_view help,
                                std::function<double()> read) {
  std::string n = SanitizeName(name);
  std::lock_guard lock(mu_);
  if (families_.count(n)) Die("metric '" + n + "' registered twice");
  families_[n] = std::make_unique<CallbackGauge>(n, std::string(help), std::move(read));
}

void Registry::AddCallbackFamily(std::string_view name, std::string_view help, MetricType type,
                                 std::vector<std::string> label_names,
                                 std::function<std::vector<LabeledValue>()> read) {
  std::string n = SanitizeName(name);
  if (type == MetricType::kHistogram) Die("callback family '" + n + "' cannot be a histogram");
  label_names = SanitizeLabels(std::move(label_names));
  std::lock_guard lock(mu_);
  if (families_.count(n)) Die("metric '" + n + "' registered twice");
  families_[n] = std::make_unique<CallbackFamily>(n, std::string(help), type,
                                                  std::move(label_names), std::move(read));
}

std::string Registry::Render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& [name, family] : families_) family->Render(out);
  return out;
}

std::string SanitizeName(std::string_view name, bool allow_colon) {
  std::string out(name.empty() ? std::string_view("_") : name);
  for (size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) out[i] = '_';
  }
  return out;
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

}  // namespace consentd::metrics
