#pragma once
// A sorted-vector map for the small maps of the topology model (a decky's IPs
// by LAN, its service_config values): one allocation per map instead of one
// node per entry, which is what a 16 MiB body of small deckies costs most in
// a std::map (a 32-byte node header plus malloc's own per node). Keys are
// unique and iterate in order, as in std::map; lookups take anything
// comparable with the key (std::string_view for a std::string key).
//
// Inserting in key order is an append; the model is read from a JSON tree
// whose members are already sorted, so building one is linear. Not
// thread-safe for writes; iterators are invalidated by any insertion.

#include <algorithm>
#include <initializer_list>
#include <stdexcept>
#include <utility>
#include <vector>

namespace edge {

template <typename K, typename V>
class FlatMap {
 public:
  using value_type = std::pair<K, V>;
  using const_iterator = typename std::vector<value_type>::const_iterator;
  using iterator = typename std::vector<value_type>::iterator;

  FlatMap() = default;
  FlatMap(std::initializer_list<value_type> init) {
    for (const auto& kv : init) emplace(kv.first, kv.second);
  }

  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void reserve(std::size_t n) { items_.reserve(n); }

  template <typename Q>
  const_iterator find(const Q& key) const {
    return locate(items_, key);
  }
  template <typename Q>
  iterator find(const Q& key) {
    return locate(items_, key);
  }
  template <typename Q>
  bool contains(const Q& key) const {
    return find(key) != end();
  }
  template <typename Q>
  std::size_t count(const Q& key) const {
    return contains(key) ? 1 : 0;
  }
  template <typename Q>
  const V& at(const Q& key) const {
    auto it = find(key);
    if (it == end()) throw std::out_of_range("FlatMap::at: no such key");
    return it->second;
  }

  // Like std::map::emplace: inserts unless the key is there; the bool says which.
  template <typename Q, typename... Args>
  std::pair<iterator, bool> emplace(Q&& key, Args&&... value) {
    if (items_.empty() || items_.back().first < key) {  // in order: append
      items_.emplace_back(K(std::forward<Q>(key)), V(std::forward<Args>(value)...));
      return {items_.end() - 1, true};
    }
    auto it = lower(items_, key);
    if (it != items_.end() && !(key < it->first)) return {it, false};
    it = items_.emplace(it, K(std::forward<Q>(key)), V(std::forward<Args>(value)...));
    return {it, true};
  }
  template <typename Q>
  V& operator[](Q&& key) {
    return emplace(std::forward<Q>(key)).first->second;
  }

  bool operator==(const FlatMap&) const = default;

 private:
  // Items is the vector, const or not: the iterator kind follows it.
  template <typename Items, typename Q>
  static auto lower(Items& items, const Q& key) {
    return std::lower_bound(items.begin(), items.end(), key,
                            [](const value_type& kv, const Q& k) { return kv.first < k; });
  }
  template <typename Items, typename Q>
  static auto locate(Items& items, const Q& key) {
    auto it = lower(items, key);
    return it != items.end() && !(key < it->first) ? it : items.end();
  }

  std::vector<value_type> items_;  // sorted by key, unique
};

}  // namespace edge
