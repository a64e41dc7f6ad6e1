#pragma once
// Library: meshos_core.
// An ordered map whose copies share what they have in common: entries live in chunks of about `ChunkSize`,
// each an immutable std::map behind a shared pointer. Copying a SharedMap copies one pointer per chunk;
// changing a copy rebuilds only the chunks it touches. This is what lets the loop publish a snapshot of
// 100,000 daemons per tick at the cost of what changed: consecutive snapshots share every unchanged chunk,
// and a subscriber holding an old snapshot never sees it move (nothing reachable from a SharedMap is
// written after it is built, so copies may be read from any number of threads).
//
// Reads look like std::map's (find, count, at, iteration in key order yielding std::pair<const Key, Value>).
// Writes go through a Builder, which copies a shared chunk the first time it touches it and then edits its
// own copy in place; the map's own insert_or_assign / erase are single-write Builders, for hand-made maps.
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace meshos {

template <class Key, class Value, std::size_t ChunkSize = 32>
class SharedMap {
  static_assert(ChunkSize >= 2, "a chunk splits in two halves");
  using Chunk = std::map<Key, Value>;
  using Chunks = std::vector<std::shared_ptr<const Chunk>>;

 public:
  using key_type = Key;
  using mapped_type = Value;
  using value_type = typename Chunk::value_type;
  using size_type = std::size_t;

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = typename Chunk::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() = default;
    reference operator*() const { return *at_; }
    pointer operator->() const { return &*at_; }
    const_iterator& operator++() {
      if (++at_ == (*chunks_)[chunk_]->end()) {
        ++chunk_;
        settle();
      }
      return *this;
    }
    const_iterator operator++(int) {
      auto before = *this;
      ++*this;
      return before;
    }
    bool operator==(const const_iterator& o) const {
      return chunk_ == o.chunk_ && (chunk_ == chunks_->size() || at_ == o.at_);
    }
    bool operator!=(const const_iterator& o) const { return !(*this == o); }

   private:
    friend class SharedMap;
    const_iterator(const Chunks* chunks, std::size_t chunk, typename Chunk::const_iterator at)
        : chunks_(chunks), chunk_(chunk), at_(at) {}
    const_iterator(const Chunks* chunks, std::size_t chunk) : chunks_(chunks), chunk_(chunk) { settle(); }
    void settle() {
      if (chunk_ < chunks_->size()) at_ = (*chunks_)[chunk_]->begin();
    }
    const Chunks* chunks_ = nullptr;
    std::size_t chunk_ = 0;
    typename Chunk::const_iterator at_{};
  };
  using iterator = const_iterator;

  class Builder;

  SharedMap() = default;

  size_type size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const_iterator begin() const { return const_iterator(&chunks_, 0); }
  const_iterator end() const { return const_iterator(&chunks_, chunks_.size()); }

  const_iterator find(const Key& key) const {
    auto chunk = chunk_for(chunks_, key);
    if (chunk == chunks_.size()) return end();
    auto at = chunks_[chunk]->find(key);
    return at == chunks_[chunk]->end() ? end() : const_iterator(&chunks_, chunk, at);
  }
  size_type count(const Key& key) const { return find(key) == end() ? 0 : 1; }
  bool contains(const Key& key) const { return find(key) != end(); }
  const Value& at(const Key& key) const {
    auto it = find(key);
    if (it == end()) throw std::out_of_range("SharedMap::at: no such key");
    return it->second;
  }

  // std::map's insert_or_assign and emplace (no overwrite), for maps built by hand; a loop of them costs one
  // copy of the chunk pointers per call: build many entries through a Builder instead.
  void insert_or_assign(const Key& key, Value value) {
    Builder b(*this);
    b.put(key, std::move(value));
    *this = std::move(b).finish();
  }
  std::pair<const_iterator, bool> emplace(const Key& key, Value value) {
    if (auto it = find(key); it != end()) return {it, false};
    insert_or_assign(key, std::move(value));
    return {find(key), true};
  }
  void clear() noexcept {
    chunks_.clear();
    size_ = 0;
  }
  size_type erase(const Key& key) {
    if (!contains(key)) return 0;
    Builder b(*this);
    b.erase(key);
    *this = std::move(b).finish();
    return 1;
  }

  // How many chunks this map shares with `other` (the same chunk, not equal contents): what a test of the
  // sharing looks at.
  size_type chunks_shared_with(const SharedMap& other) const {
    size_type shared = 0;
    for (const auto& c : chunks_)
      shared += static_cast<size_type>(std::count(other.chunks_.begin(), other.chunks_.end(), c));
    return shared;
  }
  size_type chunk_count() const noexcept { return chunks_.size(); }

 private:
  // The chunk that holds `key` or would: the last whose first key is not above it (the first chunk for a key
  // below every chunk). chunks.size() when there are none.
  template <class Pointers>
  static std::size_t chunk_for(const Pointers& chunks, const Key& key) {
    if (chunks.empty()) return chunks.size();
    auto above = std::upper_bound(chunks.begin(), chunks.end(), key,
                                  [](const Key& k, const auto& chunk) { return k < chunk->begin()->first; });
    return above == chunks.begin() ? 0 : static_cast<std::size_t>(above - chunks.begin()) - 1;
  }

  Chunks chunks_;  // in key order, none empty
  size_type size_ = 0;
};

// Edits of one map into its successor. The base stays as it was; every chunk the builder does not touch is
// shared by both. Not thread-safe (one builder, one thread); the finished map is.
template <class Key, class Value, std::size_t ChunkSize>
class SharedMap<Key, Value, ChunkSize>::Builder {
 public:
  explicit Builder(const SharedMap& base) : size_(base.size_) {
    chunks_.reserve(base.chunks_.size() + 1);
    for (const auto& c : base.chunks_) chunks_.push_back(Slot{c, nullptr});
  }

  void put(const Key& key, Value value) {
    if (chunks_.empty()) {
      auto fresh = std::make_shared<Chunk>();
      chunks_.push_back(Slot{fresh, fresh.get()});
    }
    Chunk& chunk = own(chunk_for(chunks_, key));
    auto [at, inserted] = chunk.insert_or_assign(key, std::move(value));
    (void)at;
    if (inserted) ++size_;
  }

  void erase(const Key& key) {
    auto index = chunk_for(chunks_, key);
    if (index == chunks_.size() || chunks_[index].shared->count(key) == 0) return;
    Chunk& chunk = own(index);
    chunk.erase(key);
    --size_;
    if (chunk.empty()) chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(index));
  }

  SharedMap finish() && {
    SharedMap out;
    out.size_ = size_;
    out.chunks_.reserve(chunks_.size());
    for (auto& slot : chunks_) {
      if (slot.own == nullptr || slot.own->size() <= 2 * ChunkSize) {
        out.chunks_.push_back(std::move(slot.shared));
        continue;
      }
      // Grown past twice its size: cut into chunks of ChunkSize, so one later edit copies little. The builder
      // owns the chunk: its entries move (node by node), they are not copied.
      while (!slot.own->empty()) {
        auto piece = std::make_shared<Chunk>();
        for (std::size_t i = 0; i < ChunkSize && !slot.own->empty(); ++i)
          piece->insert(piece->end(), slot.own->extract(slot.own->begin()));
        out.chunks_.push_back(std::move(piece));
      }
    }
    return out;
  }

 private:
  struct Slot {
    std::shared_ptr<const Chunk> shared;
    Chunk* own;  // non-null: this builder made the chunk and may write it in place
    const Chunk* operator->() const { return shared.get(); }
  };

  Chunk& own(std::size_t index) {
    auto& slot = chunks_[index];
    if (slot.own == nullptr) {
      auto copy = std::make_shared<Chunk>(*slot.shared);
      slot.own = copy.get();
      slot.shared = std::move(copy);
    }
    return *slot.own;
  }

  std::vector<Slot> chunks_;
  size_type size_;
};

}  // namespace meshos
