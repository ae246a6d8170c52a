// Metrics: a Registry of metric families, each declared once per component with fixed label
// names, and the Prometheus text exposition (format 0.0.4) of all of them.
//
//   auto& refused = registry.counter("admin_requests_refused_total", "Requests refused.",
//   {"reason"}); Counter too_large = refused.with({"header_too_large"});   // look up once (mutex)
//   ... too_large.inc();                                           // ... then update lock-free
//
// Handles share ownership of their cell, so a handle stays valid after remove(); its updates just
// stop being exported.
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

namespace strait::metrics {

using LabelValues = std::vector<std::string>;

namespace detail {
struct CounterCell {
  std::atomic<std::uint64_t> value{0};
};
struct GaugeCell {
  std::atomic<double> value{0};
  std::function<double()> callback;  // set at creation for callback gauges, never changed after
};
struct HistogramCell {
  explicit HistogramCell(std::shared_ptr<const std::vector<double>> b);
  std::shared_ptr<const std::vector<double>>
      bounds;  // shared with the family: handles may outlive it
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts;  // per bucket, not cumulative; last is +Inf
  std::atomic<double> sum{0};
};
}  // namespace detail

// A monotonically increasing count.
class Counter {
 public:
  Counter() = default;  // detached; assign from a family before use
  void inc(std::uint64_t n = 1) const { cell_->value.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return cell_->value.load(std::memory_order_relaxed); }

 private:
  friend class CounterFamily;
  explicit Counter(std::shared_ptr<detail::CounterCell> c) : cell_(std::move(c)) {}
  std::shared_ptr<detail::CounterCell> cell_;
};

// A value that goes up and down.
class Gauge {
 public:
  Gauge() = default;
  void set(double v) const { cell_->value.store(v, std::memory_order_relaxed); }
  void inc(double d = 1) const { cell_->value.fetch_add(d, std::memory_order_relaxed); }
  void dec(double d = 1) const { cell_->value.fetch_sub(d, std::memory_order_relaxed); }
  double value() const { return cell_->value.load(std::memory_order_relaxed); }

 private:
  friend class GaugeFamily;
  explicit Gauge(std::shared_ptr<detail::GaugeCell> c) : cell_(std::move(c)) {}
  std::shared_ptr<detail::GaugeCell> cell_;
};

// Observations counted into fixed buckets (upper bounds, inclusive), plus their sum and count.
class Histogram {
 public:
  Histogram() = default;
  void observe(double v) const;  // NaN is ignored
  std::uint64_t count() const;
  double sum() const { return cell_->sum.load(std::memory_order_relaxed); }

 private:
  friend class HistogramFamily;
  explicit Histogram(std::shared_ptr<detail::HistogramCell> c) : cell_(std::move(c)) {}
  std::shared_ptr<detail::HistogramCell> cell_;
};

enum class Type { counter, gauge, histogram };

// What families have in common: name, help, label names, and how they are written out.
class Family {
 public:
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Forgets one label set (for things that disappear: a removed link, a closed stream).
  // Returns whether it existed.
  virtual bool remove(const LabelValues& values) = 0;

 protected:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names);
  friend class Registry;
  virtual void write(std::string& out) const = 0;  // samples only, sorted by label values
  void check_arity(const LabelValues& values) const;

  std::string name_, help_;
  Type type_;
  std::vector<std::string> label_names_;
  mutable std::mutex mu_;
};

class CounterFamily final : public Family {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);
  Counter with(const LabelValues& values);
  bool remove(const LabelValues& values) override;

 private:
  void write(std::string& out) const override;
  std::map<LabelValues, std::shared_ptr<detail::CounterCell>> cells_;
};

class GaugeFamily final : public Family {
 public:
  friend class Registry;
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names);
  Gauge with(const LabelValues& values);
  // A label set whose value is computed at scrape time (open connections, certificate expiry).
  // Replaces any earlier value for these labels. `fn` runs under the family lock during expose():
  // it must be quick and must not touch this registry.
  void with_callback(const LabelValues& values, std::function<double()> fn);
  bool remove(const LabelValues& values) override;

 private:
  void write(std::string& out) const override;
  std::map<LabelValues, std::shared_ptr<detail::GaugeCell>> cells_;
};

class HistogramFamily final : public Family {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds);
  Histogram with(const LabelValues& values);
  bool remove(const LabelValues& values) override;
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  void write(std::string& out) const override;
  std::shared_ptr<const std::vector<double>> bounds_;
  std::map<LabelValues, std::shared_ptr<detail::HistogramCell>> cells_;
};

// Seconds, for request latencies: 5 ms .. 10 s.
std::vector<double> default_latency_buckets();

// Holds every family of a process. Declaring is a start-up activity: an invalid name, a counter
// not ending in _total, a clash with another family, or a histogram label "le" throws
// std::invalid_argument. Declaring the same family again (same type, labels and buckets) returns
// the existing one, so two instances of a component can share a registry.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& counter(std::string name, std::string help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  HistogramFamily& histogram(std::string name, std::string help,
                             std::vector<std::string> label_names,
                             std::vector<double> bounds = default_latency_buckets());

  // Prometheus text format 0.0.4, families sorted by name, samples by label values. Families
  // without samples are left out.
  std::string expose() const;

 private:
  template <typename F, typename... Args>
  F& declare(std::string name, std::string help, Type type, std::vector<std::string> labels,
             Args&&... args);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
};

// Exposition building blocks, public for tests and for other text writers.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";
std::string format_value(double v);  // "+Inf", "-Inf", "NaN", or shortest round-trip
std::string escape_label_value(std::string_view v);  // \\ \" \n; invalid UTF-8 becomes U+FFFD
std::string escape_help(std::string_view v);         // \\ \n; invalid UTF-8 becomes U+FFFD

}  // namespace strait::metrics
