// One allocation of a backend's memory holding named tensors (llm.c's activation block). A plan
// lists every tensor — name, element count and the pointer to aim at it — then allocate() lays
// them out 64-byte aligned in one block (reusing the block when it is large enough) and sets the
// pointers. Tensors added with add_shared() under one name share their memory: the backward's
// scratch, which every layer uses in turn, exists once.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace np {

class Arena {
public:
    struct Entry {
        std::string name;
        size_t offset = 0, bytes = 0;
        std::vector<std::function<void(std::byte*)>> aim;  // sets each pointer to the tensor
    };

    explicit Arena(DeviceMemory& mem) : mem_(&mem) {}
    Arena(Arena&&) noexcept = default;
    Arena& operator=(Arena&&) noexcept = default;

    // Forgets the plan; the block stays allocated for the next one.
    void clear() { entries_.clear(), planned_ = 0; }
    // A tensor of `count` elements of U at `slot` after allocate(); names must be unique.
    template <class U>
    void add(const std::string& name, size_t count, U*& slot) {
        Entry& e = place(name, count * sizeof(U), false);
        e.aim.push_back([&slot](std::byte* p) { slot = reinterpret_cast<U*>(p); });
    }
    // Like add(), but every tensor of this name shares one region (sized for the largest).
    template <class U>
    void add_shared(const std::string& name, size_t count, U*& slot) {
        Entry& e = place(name, count * sizeof(U), true);
        e.aim.push_back([&slot](std::byte* p) { slot = reinterpret_cast<U*>(p); });
    }
    // Allocates (when the plan outgrows the block, or with `fit` when it is smaller) and aims every
    // pointer at its tensor.
    void allocate(bool fit = false);

    size_t planned_bytes() const { return planned_; }
    size_t allocated_bytes() const { return capacity_; }
    const std::vector<Entry>& entries() const { return entries_; }

private:
    struct Release {
        DeviceMemory* mem;
        void operator()(std::byte* p) const { mem->release(p); }
    };
    Entry& place(const std::string& name, size_t bytes, bool shared);

    DeviceMemory* mem_;
    std::vector<Entry> entries_;
    size_t planned_ = 0, capacity_ = 0;
    std::unique_ptr<std::byte, Release> block_{nullptr, Release{nullptr}};
};

}  // namespace np
