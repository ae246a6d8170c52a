// Table: aligned columns for straitctl's human output.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace strait::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const;
  std::size_t size() const { return rows_.size() - 1; }  // rows below the header

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace strait::cli
