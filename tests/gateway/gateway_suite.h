// GatewaySuite: a GoogleTest fixture sharing one GatewayEnv among the tests of a suite (a
// controller, a proxy and a gateway take seconds to start); tests compare counters before and
// after, so their order does not matter. Logs are printed when a test failed.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "tests/gateway/gateway_env.h"

namespace strait::gateway_it {

// One instantiation per suite (Tag), so that suites in one binary do not share an environment.
template <typename Tag>
class GatewaySuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = std::make_unique<GatewayEnv>();
    if (auto r = env_->up(); !r) {
      setup_error_ = r.error().to_string() + "\n" + env_->logs();
      env_.reset();
    }
  }
  static void TearDownTestSuite() { env_.reset(); }

  void SetUp() override { ASSERT_TRUE(env_) << "environment not up: " << setup_error_; }
  void TearDown() override {
    if (env_ && (this->HasFailure() || std::getenv("STRAIT_TEST_PRINT_LOG") != nullptr)) {
      std::cerr << env_->logs();
    }
  }

  static inline std::unique_ptr<GatewayEnv> env_;
  static inline std::string setup_error_;
};

}  // namespace strait::gateway_it
