// The CPU backend for tests that call a module or an op directly: one object per scalar type and
// thread (a backend's scratch serves one thread of calls).
#pragma once
#include <memory>

#include "backend/backend.h"

namespace np::test {

template <class T>
Backend<T>& cpu() {
    static thread_local std::unique_ptr<Backend<T>> be = make_cpu_backend<T>();
    return *be;
}

}  // namespace np::test
