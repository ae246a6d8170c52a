// ASSERT_OK(expr): asserts that a strait::Result holds a value, printing its error otherwise.
#pragma once

#include <gtest/gtest.h>

#define ASSERT_OK(expr)                                                               \
  do {                                                                                \
    const auto& assert_ok_r_ = (expr);                                                \
    ASSERT_TRUE(assert_ok_r_.ok()) << #expr ": " << assert_ok_r_.error().to_string(); \
  } while (0)
