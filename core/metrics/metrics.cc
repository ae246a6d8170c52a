// Family bookkeeping on prometheus-cpp cells, declaration checks, label sanitizing, and the
// collection of all families into prometheus::TextSerializer.
#include "core/metrics/metrics.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <prometheus/check_names.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace strait::metrics {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 (overlong, surrogate, beyond U+10FFFF, cut).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  unsigned char c = p[i];
  if (c < 0x80) return 1;
  size_t len = 0;
  unsigned cp = 0, min = 0;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((p[i + k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i + k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// prometheus-cpp 1.0.1 escapes label values but prints help verbatim, so a newline or backslash
// in a help text would break the exposition. Help is fixed at declaration: escape it once there.
std::string help_for_serializer(std::string_view help) {
  std::string out;
  for (char c : sanitize_utf8(help)) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "strait::metrics: %s\n", msg.c_str());
  std::abort();
}

prometheus::MetricType prometheus_type(Type t) {
  switch (t) {
    case Type::counter:
      return prometheus::MetricType::Counter;
    case Type::gauge:
      return prometheus::MetricType::Gauge;
    case Type::histogram:
      return prometheus::MetricType::Histogram;
  }
  return prometheus::MetricType::Untyped;
}

}  // namespace

std::string sanitize_utf8(std::string_view s) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (size_t len = utf8_sequence(s, i); len > 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
  return out;
}

std::vector<double> default_latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::uint64_t Histogram::count() const { return cell_->Collect().histogram.sample_count; }

double Histogram::sum() const { return cell_->Collect().histogram.sample_sum; }

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      exposed_help_(help_for_serializer(help_)),
      type_(type),
      label_names_(std::move(label_names)) {}

LabelValues Family::key(const LabelValues& values) const {
  // A mismatch is a programming error in the caller; exporting a malformed series would hide it.
  if (values.size() != label_names_.size()) {
    die(name_ + ": " + std::to_string(label_names_.size()) + " label values expected, got " +
        std::to_string(values.size()));
  }
  LabelValues out;
  out.reserve(values.size());
  for (const auto& v : values) out.push_back(sanitize_utf8(v));
  return out;
}

prometheus::ClientMetric Family::labelled(prometheus::ClientMetric m,
                                          const LabelValues& values) const {
  m.label.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) m.label.push_back({label_names_[i], values[i]});
  return m;
}

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : Family(std::move(name), std::move(help), Type::counter, std::move(label_names)) {}

Counter CounterFamily::with(const LabelValues& values) {
  auto k = key(values);
  std::lock_guard lock(mu_);
  auto& cell = cells_[std::move(k)];
  if (!cell) cell = std::make_shared<prometheus::Counter>();
  return Counter(cell);
}

bool CounterFamily::remove(const LabelValues& values) {
  auto k = key(values);
  std::lock_guard lock(mu_);
  return cells_.erase(k) > 0;
}

void CounterFamily::collect(std::vector<prometheus::ClientMetric>& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, cell] : cells_) out.push_back(labelled(cell->Collect(), values));
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : Family(std::move(name), std::move(help), Type::gauge, std::move(label_names)) {}

Gauge GaugeFamily::with(const LabelValues& values) {
  auto k = key(values);
  std::lock_guard lock(mu_);
  auto& cell = cells_[std::move(k)];
  if (!cell.gauge) cell = Cell{std::make_shared<prometheus::Gauge>(), nullptr};
  return Gauge(cell.gauge);
}

void GaugeFamily::with_callback(const LabelValues& values, std::function<double()> fn) {
  auto k = key(values);
  std::lock_guard lock(mu_);
  cells_[std::move(k)] = Cell{nullptr, std::move(fn)};
}

bool GaugeFamily::remove(const LabelValues& values) {
  auto k = key(values);
  std::lock_guard lock(mu_);
  return cells_.erase(k) > 0;
}

void GaugeFamily::collect(std::vector<prometheus::ClientMetric>& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, cell] : cells_) {
    prometheus::ClientMetric m;
    if (cell.gauge)
      m = cell.gauge->Collect();
    else
      m.gauge.value = cell.callback();
    out.push_back(labelled(std::move(m), values));
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names, std::vector<double> bounds)
    : Family(std::move(name), std::move(help), Type::histogram, std::move(label_names)),
      bounds_(std::move(bounds)) {}

Histogram HistogramFamily::with(const LabelValues& values) {
  auto k = key(values);
  std::lock_guard lock(mu_);
  auto& cell = cells_[std::move(k)];
  if (!cell) cell = std::make_shared<prometheus::Histogram>(bounds_);
  return Histogram(cell);
}

bool HistogramFamily::remove(const LabelValues& values) {
  auto k = key(values);
  std::lock_guard lock(mu_);
  return cells_.erase(k) > 0;
}

void HistogramFamily::collect(std::vector<prometheus::ClientMetric>& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, cell] : cells_) out.push_back(labelled(cell->Collect(), values));
}

template <typename F, typename... Args>
F& Registry::declare(std::string name, std::string help, Type type, std::vector<std::string> labels,
                     Args&&... args) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("metric " + name + ": " + why);
  };
  if (!prometheus::CheckMetricName(name)) fail("invalid metric name");
  bool total = name.size() > 6 && name.ends_with("_total");
  if (type == Type::counter && !total) fail("counter names end in _total");
  if (type != Type::counter && total) fail("only counter names end in _total");
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!prometheus::CheckLabelName(labels[i])) fail("invalid label name \"" + labels[i] + "\"");
    if (type == Type::histogram && labels[i] == "le") fail("histograms cannot have a label \"le\"");
    for (size_t j = 0; j < i; ++j) {
      if (labels[i] == labels[j]) fail("duplicate label name \"" + labels[i] + "\"");
    }
  }

  std::lock_guard lock(mu_);
  if (auto it = families_.find(name); it != families_.end()) {
    auto* f = dynamic_cast<F*>(it->second.get());
    if (!f || f->label_names() != labels) fail("declared twice with different types or labels");
    if constexpr (std::is_same_v<F, HistogramFamily>) {
      if (f->bounds() != std::vector<double>(args...))
        fail("declared twice with different buckets");
    }
    return *f;
  }
  // Series names a histogram generates must not belong to another family.
  for (const auto& [other, family] : families_) {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if ((family->type() == Type::histogram && name == other + std::string(suffix)) ||
          (type == Type::histogram && other == name + std::string(suffix))) {
        fail("clashes with the series of " + other);
      }
    }
  }
  auto family =
      std::make_unique<F>(name, std::move(help), std::move(labels), std::forward<Args>(args)...);
  F& ref = *family;
  families_.emplace(std::move(name), std::move(family));
  return ref;
}

CounterFamily& Registry::counter(std::string name, std::string help,
                                 std::vector<std::string> label_names) {
  auto& f = declare<CounterFamily>(std::move(name), std::move(help), Type::counter,
                                   std::move(label_names));
  if (f.label_names().empty()) f.with({});  // an unlabelled counter exists from the start, at 0
  return f;
}

GaugeFamily& Registry::gauge(std::string name, std::string help,
                             std::vector<std::string> label_names) {
  auto& f =
      declare<GaugeFamily>(std::move(name), std::move(help), Type::gauge, std::move(label_names));
  if (f.label_names().empty()) {
    std::lock_guard lock(f.mu_);
    if (f.cells_.empty()) {  // keep a callback set by an earlier declaration
      f.cells_[{}] = GaugeFamily::Cell{std::make_shared<prometheus::Gauge>(), nullptr};
    }
  }
  return f;
}

HistogramFamily& Registry::histogram(std::string name, std::string help,
                                     std::vector<std::string> label_names,
                                     std::vector<double> bounds) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("metric " + name + ": " + why);
  };
  if (bounds.empty()) fail("a histogram needs buckets");
  for (double b : bounds) {
    if (!std::isfinite(b)) fail("buckets must be finite");
  }
  try {
    prometheus::Histogram probe(bounds);  // its own check: strictly increasing
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  auto& f = declare<HistogramFamily>(std::move(name), std::move(help), Type::histogram,
                                     std::move(label_names), std::move(bounds));
  if (f.label_names().empty()) f.with({});
  return f;
}

std::string Registry::expose() const {
  std::vector<prometheus::MetricFamily> families;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) {
      prometheus::MetricFamily mf{name, family->exposed_help_, prometheus_type(family->type()), {}};
      family->collect(mf.metric);
      if (!mf.metric.empty()) families.push_back(std::move(mf));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace strait::metrics
