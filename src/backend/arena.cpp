#include "backend/arena.h"

#include <algorithm>

#include "core/error.h"

namespace np {

namespace {
constexpr size_t kAlign = 64;
size_t aligned(size_t n) {
    return (n + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

Arena::Entry& Arena::place(const std::string& name, size_t bytes, bool shared) {
    for (Entry& e : entries_) {
        if (e.name != name) continue;
        if (!shared) fail("arena: tensor '" + name + "' planned twice");
        planned_ += aligned(std::max(bytes, e.bytes)) - aligned(e.bytes);
        e.bytes = std::max(bytes, e.bytes);
        return e;
    }
    entries_.push_back({name, 0, bytes, {}});
    planned_ += aligned(bytes);
    return entries_.back();
}

void Arena::allocate(bool fit) {
    if (planned_ > capacity_ || (fit && planned_ < capacity_)) {
        block_.reset();
        block_ = std::unique_ptr<std::byte, Release>(static_cast<std::byte*>(mem_->alloc(planned_)),
                                                     Release{mem_});
        capacity_ = planned_;
    }
    size_t offset = 0;
    for (Entry& e : entries_) {
        e.offset = offset;
        offset += aligned(e.bytes);
        for (const auto& aim : e.aim) aim(block_.get() + e.offset);
    }
}

}  // namespace np
