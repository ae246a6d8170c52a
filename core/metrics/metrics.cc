// Family bookkeeping, declaration checks and the Prometheus text exposition.
#include "core/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace strait::metrics {
namespace {

bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Appends `s`, replacing each invalid UTF-8 sequence with U+FFFD, and escaping as asked. Label
// values come from traffic (authorities, peer names); the exposition must stay parseable anyway.
void append_escaped(std::string& out, std::string_view s, bool escape_quote) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c == '\\')
        out += "\\\\";
      else if (c == '\n')
        out += "\\n";
      else if (c == '"' && escape_quote)
        out += "\\\"";
      else
        out += static_cast<char>(c);
      ++i;
      continue;
    }
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
    }
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80)
        ok = false;
      else
        cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += kReplacement;
      ++i;
    }
  }
}

// name{k="v",...,extra_name="extra_value"} value\n
void append_sample(std::string& out, std::string_view name,
                   const std::vector<std::string>& label_names, const LabelValues& values,
                   std::string_view extra_name, std::string_view extra_value,
                   std::string_view value) {
  out += name;
  if (!label_names.empty() || !extra_name.empty()) {
    out += '{';
    bool first = true;
    for (size_t i = 0; i < label_names.size(); ++i) {
      if (!first) out += ',';
      first = false;
      out += label_names[i];
      out += "=\"";
      append_escaped(out, values[i], true);
      out += '"';
    }
    if (!extra_name.empty()) {
      if (!first) out += ',';
      out += extra_name;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "strait::metrics: %s\n", msg.c_str());
  std::abort();
}

std::string_view type_name(Type t) {
  switch (t) {
    case Type::counter:
      return "counter";
    case Type::gauge:
      return "gauge";
    case Type::histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  append_escaped(out, v, true);
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  append_escaped(out, v, false);
  return out;
}

std::vector<double> default_latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

detail::HistogramCell::HistogramCell(std::shared_ptr<const std::vector<double>> b)
    : bounds(std::move(b)), counts(new std::atomic<std::uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds->size(); ++i) counts[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) const {
  if (std::isnan(v)) return;
  const auto& b = *cell_->bounds;
  size_t i =
      static_cast<size_t>(std::lower_bound(b.begin(), b.end(), v) - b.begin());  // first bound >= v
  cell_->counts[i].fetch_add(1, std::memory_order_relaxed);
  cell_->sum.fetch_add(v, std::memory_order_relaxed);
}

std::uint64_t Histogram::count() const {
  std::uint64_t n = 0;
  for (size_t i = 0; i <= cell_->bounds->size(); ++i)
    n += cell_->counts[i].load(std::memory_order_relaxed);
  return n;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

void Family::check_arity(const LabelValues& values) const {
  // A mismatch is a programming error in the caller; exporting a malformed series would hide it.
  if (values.size() != label_names_.size()) {
    die(name_ + ": " + std::to_string(label_names_.size()) + " label values expected, got " +
        std::to_string(values.size()));
  }
}

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : Family(std::move(name), std::move(help), Type::counter, std::move(label_names)) {}

Counter CounterFamily::with(const LabelValues& values) {
  check_arity(values);
  std::lock_guard lock(mu_);
  auto& cell = cells_[values];
  if (!cell) cell = std::make_shared<detail::CounterCell>();
  return Counter(cell);
}

bool CounterFamily::remove(const LabelValues& values) {
  std::lock_guard lock(mu_);
  return cells_.erase(values) > 0;
}

void CounterFamily::write(std::string& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, cell] : cells_) {
    append_sample(out, name_, label_names_, values, "", "",
                  std::to_string(cell->value.load(std::memory_order_relaxed)));
  }
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : Family(std::move(name), std::move(help), Type::gauge, std::move(label_names)) {}

Gauge GaugeFamily::with(const LabelValues& values) {
  check_arity(values);
  std::lock_guard lock(mu_);
  auto& cell = cells_[values];
  if (!cell || cell->callback) cell = std::make_shared<detail::GaugeCell>();
  return Gauge(cell);
}

void GaugeFamily::with_callback(const LabelValues& values, std::function<double()> fn) {
  check_arity(values);
  auto cell = std::make_shared<detail::GaugeCell>();
  cell->callback = std::move(fn);
  std::lock_guard lock(mu_);
  cells_[values] = std::move(cell);
}

bool GaugeFamily::remove(const LabelValues& values) {
  std::lock_guard lock(mu_);
  return cells_.erase(values) > 0;
}

void GaugeFamily::write(std::string& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, cell] : cells_) {
    double v = cell->callback ? cell->callback() : cell->value.load(std::memory_order_relaxed);
    append_sample(out, name_, label_names_, values, "", "", format_value(v));
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names, std::vector<double> bounds)
    : Family(std::move(name), std::move(help), Type::histogram, std::move(label_names)),
      bounds_(std::make_shared<const std::vector<double>>(std::move(bounds))) {}

Histogram HistogramFamily::with(const LabelValues& values) {
  check_arity(values);
  std::lock_guard lock(mu_);
  auto& cell = cells_[values];
  if (!cell) cell = std::make_shared<detail::HistogramCell>(bounds_);
  return Histogram(cell);
}

bool HistogramFamily::remove(const LabelValues& values) {
  std::lock_guard lock(mu_);
  return cells_.erase(values) > 0;
}

void HistogramFamily::write(std::string& out) const {
  std::lock_guard lock(mu_);
  const std::string bucket = name_ + "_bucket";
  const std::string sum = name_ + "_sum";
  const std::string count = name_ + "_count";
  const auto& b = *bounds_;
  for (const auto& [values, cell] : cells_) {
    // Cumulate from one pass over the per-bucket counts, so that +Inf and _count agree even while
    // observations land concurrently.
    std::uint64_t cumulative = 0;
    for (size_t i = 0; i <= b.size(); ++i) {
      cumulative += cell->counts[i].load(std::memory_order_relaxed);
      append_sample(out, bucket, label_names_, values, "le",
                    i < b.size() ? format_value(b[i]) : "+Inf", std::to_string(cumulative));
    }
    append_sample(out, sum, label_names_, values, "", "",
                  format_value(cell->sum.load(std::memory_order_relaxed)));
    append_sample(out, count, label_names_, values, "", "", std::to_string(cumulative));
  }
}

template <typename F, typename... Args>
F& Registry::declare(std::string name, std::string help, Type type, std::vector<std::string> labels,
                     Args&&... args) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("metric " + name + ": " + why);
  };
  if (!valid_metric_name(name)) fail("invalid metric name");
  bool total = name.size() > 6 && name.ends_with("_total");
  if (type == Type::counter && !total) fail("counter names end in _total");
  if (type != Type::counter && total) fail("only counter names end in _total");
  for (size_t i = 0; i < labels.size(); ++i) {
    if (!valid_label_name(labels[i])) fail("invalid label name \"" + labels[i] + "\"");
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
    if (f.cells_.empty()) f.cells_[{}] = std::make_shared<detail::GaugeCell>();  // keep a callback
  }
  return f;
}

HistogramFamily& Registry::histogram(std::string name, std::string help,
                                     std::vector<std::string> label_names,
                                     std::vector<double> bounds) {
  if (bounds.empty()) throw std::invalid_argument("metric " + name + ": a histogram needs buckets");
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      throw std::invalid_argument("metric " + name +
                                  ": buckets must be finite and strictly increasing");
    }
  }
  auto& f = declare<HistogramFamily>(std::move(name), std::move(help), Type::histogram,
                                     std::move(label_names), std::move(bounds));
  if (f.label_names().empty()) f.with({});
  return f;
}

std::string Registry::expose() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& [name, family] : families_) {
    std::string samples;
    family->write(samples);
    if (samples.empty()) continue;
    out += "# HELP ";
    out += name;
    out += ' ';
    out += escape_help(family->help());
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(family->type());
    out += '\n';
    out += samples;
  }
  return out;
}

}  // namespace strait::metrics
