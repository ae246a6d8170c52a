// Metrics: a Registry of metric families, each declared once per component with fixed label
// names. The cells are prometheus-cpp's own metric objects and the text exposition (format 0.0.4)
// is prometheus-cpp's TextSerializer; this file owns the families, their label sets and the
// start-up checks.
//
//   auto& refused = registry.counter("admin_requests_refused_total", "Requests refused.",
//   {"reason"}); Counter too_large = refused.with({"header_too_large"});   // look up once (mutex)
//   ... too_large.inc();                     // ... then update without lookup or allocation
//
// Counters and gauges update with atomics; a histogram takes prometheus-cpp's per-histogram mutex,
// which is what keeps its buckets, _sum and _count consistent with each other.
//
// Handles share ownership of their cell, so a handle stays valid after remove(); its updates just
// stop being exported.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

namespace strait::metrics {

using LabelValues = std::vector<std::string>;

// A monotonically increasing count. prometheus-cpp counts in a double: exact up to 2^53.
class Counter {
 public:
  Counter() = default;  // detached; assign from a family before use
  void inc(std::uint64_t n = 1) const { cell_->Increment(static_cast<double>(n)); }
  std::uint64_t value() const { return static_cast<std::uint64_t>(cell_->Value()); }

 private:
  friend class CounterFamily;
  explicit Counter(std::shared_ptr<prometheus::Counter> c) : cell_(std::move(c)) {}
  std::shared_ptr<prometheus::Counter> cell_;
};

// A value that goes up and down.
class Gauge {
 public:
  Gauge() = default;
  void set(double v) const { cell_->Set(v); }
  void inc(double d = 1) const { cell_->Increment(d); }
  void dec(double d = 1) const { cell_->Decrement(d); }
  double value() const { return cell_->Value(); }

 private:
  friend class GaugeFamily;
  explicit Gauge(std::shared_ptr<prometheus::Gauge> c) : cell_(std::move(c)) {}
  std::shared_ptr<prometheus::Gauge> cell_;
};

// Observations counted into fixed buckets (upper bounds, inclusive), plus their sum and count.
class Histogram {
 public:
  Histogram() = default;
  // NaN is ignored: prometheus-cpp would count it in +Inf and turn the sum into NaN for good.
  void observe(double v) const {
    if (!std::isnan(v)) cell_->Observe(v);
  }
  // Reads (not for the hot path: they collect a snapshot).
  std::uint64_t count() const;
  double sum() const;

 private:
  friend class HistogramFamily;
  explicit Histogram(std::shared_ptr<prometheus::Histogram> c) : cell_(std::move(c)) {}
  std::shared_ptr<prometheus::Histogram> cell_;
};

enum class Type { counter, gauge, histogram };

// What families have in common: name, help, label names, and how their samples are collected.
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
  // One ClientMetric per label set, labels attached, sorted by label values.
  virtual void collect(std::vector<prometheus::ClientMetric>& out) const = 0;
  // Checks the arity and sanitizes the values (see sanitize_utf8): the key of a label set.
  LabelValues key(const LabelValues& values) const;
  prometheus::ClientMetric labelled(prometheus::ClientMetric m, const LabelValues& values) const;

  std::string name_, help_;
  std::string exposed_help_;  // what TextSerializer prints verbatim after "# HELP name "
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
  void collect(std::vector<prometheus::ClientMetric>& out) const override;
  std::map<LabelValues, std::shared_ptr<prometheus::Counter>> cells_;
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
  struct Cell {
    std::shared_ptr<prometheus::Gauge> gauge;  // null for a callback gauge
    std::function<double()> callback;
  };
  void collect(std::vector<prometheus::ClientMetric>& out) const override;
  std::map<LabelValues, Cell> cells_;
};

class HistogramFamily final : public Family {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds);
  Histogram with(const LabelValues& values);
  bool remove(const LabelValues& values) override;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  void collect(std::vector<prometheus::ClientMetric>& out) const override;
  std::vector<double> bounds_;
  std::map<LabelValues, std::shared_ptr<prometheus::Histogram>> cells_;
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

  // Prometheus text format 0.0.4 (prometheus::TextSerializer), families sorted by name, samples by
  // label values. Families without samples are left out.
  std::string expose() const;

 private:
  template <typename F, typename... Args>
  F& declare(std::string name, std::string help, Type type, std::vector<std::string> labels,
             Args&&... args);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
};

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Input sanitizing for label values (which come from traffic: authorities, peer names) and help
// texts: each invalid UTF-8 sequence becomes U+FFFD, so the exposition stays valid UTF-8.
std::string sanitize_utf8(std::string_view v);

}  // namespace strait::metrics
