// strata/catch2.hpp: Catch2 (2.13) matchers for strata errors and results, for
// the tests of code that uses strata. Not included by <strata/strata.hpp>:
// include it in test files only (it includes <catch2/catch.hpp>).
//
//   #include <catch2/catch.hpp>
//   #include <strata/catch2.hpp>
//   using namespace strata::testing;
//
//   strata::result<config> r = load_config("missing.toml");
//   REQUIRE_THAT(r, FailsWith(IsLayer<strata::intermediate>() && MessageContains("missing.toml")));
//   CHECK_THAT(r.error(), IsUserFacing() && HasLayer<strata::low_level>() && ChainContains("No such file"));
//   CHECK_THAT(r.error(), HasMisc("path", "missing.toml") && !HasMisc("retries"));
//   CHECK_THAT(canceled, IsLayer<strata::canceled>() && HasSecondary("stopped because"));
//   REQUIRE_THAT(load_config("ok.toml"), Succeeds());
//
// Error matchers (Catch::MatcherBase<strata::error>) take a strata::error or any
// strata::wrapped_error<L>, and combine with &&, || and ! as Catch2's own do.
// Result matchers (Fails, FailsWith, Succeeds) take any strata::result<T> and
// combine among themselves the same way. When a match fails, Catch prints the
// error's chain ({:c}), or for a result "success" or "failure: <chain>", then
// what the matcher expected and, once it has matched something, what it found
// there, in parentheses:
//   has misc entry "line" = 2 (found "line" = 1)
//   has misc entry "line" (found no entry "line"; the entries: "user" = "ada")
//   has a frame of layer "app.db" in its chain (found layers "app.api", "app.storage", cause std::error_code)
// (describe() of a matcher that has matched nothing is the expectation alone.)
// As with Catch2's matchers, a combination refers to its parts: use it within
// the assertion, do not keep it in a variable.
//
// Matching an error counts as looking at it (STRATA_CHECKED).
#pragma once

#include <catch2/catch.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "error.hpp"
#include "format.hpp"
#include "layer.hpp"
#include "misc.hpp"
#include "result.hpp"

namespace strata::testing {

// What every error matcher is: Catch2's matcher of strata::error.
using error_matcher = Catch::MatcherBase<error>;

namespace detail {

inline std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
    return out;
}

// Every frame's message, outermost first, joined with ": " (secondary errors
// are not causes and are not in it): the text {:c} prints, but never eliding the middle of a deep chain, and with any
// sensitive() value as it was given. "" for an empty error.
inline std::string full_chain(const error& e) {
    std::string out;
    bool first = true;
    for (error f = e; f; f = f.inner()) {
        if (!first) out += ": ";
        first = false;
        out += f.message(reveal);
    }
    return out;
}

// How a found frame's layer is named: "app.api", or "cause std::error_code" for
// a root cause that is not a strata layer.
inline std::string layer_text(const layer_info& l) {
    if (l.is_cause) return "cause " + std::string(l.name);
    return quoted(l.name);
}

// A misc entry as found: "key" = value (strings quoted, sensitive() values as
// given, since the matcher compares those).
inline std::string entry_text(const misc_entry& m) {
    fmt::memory_buffer b;
    strata::detail::put_misc_value(b, m.value, false);
    return quoted(m.key) + " = " + std::string(b.data(), b.size());
}

// The most items a found list names before it says how many it left out.
inline constexpr std::size_t max_found = 16;

inline void add_item(std::string& out, std::size_t i, const std::string& item) {
    if (i >= max_found) return;
    if (i) out += ", ";
    out += item;
}
inline void add_more(std::string& out, std::size_t n) {
    if (n > max_found) out += ", and " + std::to_string(n - max_found) + " more";
}

// An error matcher that remembers what its last match() found, for describe().
// A matcher (of either kind) that remembers what its last match() found.
template <class Base>
class remembers_found : public Base {
protected:
    // Records `text` as what was found (Catch's cached description of an earlier
    // match, where the base keeps one, is dropped) and returns `ok`.
    bool found(bool ok, std::string text) const {
        found_ = std::move(text);
        if constexpr (std::is_base_of_v<Catch::Matchers::Impl::MatcherUntypedBase, Base>) this->m_cachedToString.clear();
        return ok;
    }
    // `expected`, then " (found ...)" once something was matched.
    std::string with_found(std::string expected) const {
        if (!found_.empty()) expected += " (found " + found_ + ")";
        return expected;
    }

private:
    mutable std::string found_;
};

class found_matcher : public remembers_found<error_matcher> {};

}  // namespace detail

// ---- Error matchers ----------------------------------------------------------

// The outermost layer is L (e.is<L>()). An empty error has no layer.
template <layer_tag L>
class layer_matcher : public detail::found_matcher {
public:
    bool match(const error& e) const override {
        return found(e.is<L>(), e ? "outermost layer " + detail::layer_text(e.layer()) : "an empty error");
    }
    std::string describe() const override {
        return with_found("has outermost layer " + detail::quoted(layer_info_of<L>.name));
    }
};

// Some frame of the chain, the outermost included, is of layer L (strata::find<L>;
// secondary errors are not searched).
template <layer_tag L>
class has_layer_matcher : public detail::found_matcher {
public:
    bool match(const error& e) const override {
        if (!e) return found(false, "an empty error");
        std::string layers = "layers ";
        std::size_t n = 0;
        for (error f = e; f; f = f.inner()) detail::add_item(layers, n++, detail::layer_text(f.layer()));
        detail::add_more(layers, n);
        return found(strata::find<L>(e).has_value(), std::move(layers));
    }
    std::string describe() const override {
        return with_found("has a frame of layer " + detail::quoted(layer_info_of<L>.name) + " in its chain");
    }
};

// The outermost frame's message, as it was written (sensitive() values not
// hashed, as ChainContains), contains `text`. An empty error has no message.
class message_matcher : public detail::found_matcher {
public:
    explicit message_matcher(std::string text) : text_(std::move(text)) {}
    bool match(const error& e) const override {
        if (!e) return found(false, "an empty error");
        const std::string_view m = e.message(reveal);
        return found(m.find(text_) != std::string_view::npos, "message " + detail::quoted(m));
    }
    std::string describe() const override {
        return with_found("has a message containing " + detail::quoted(text_));
    }

private:
    std::string text_;
};

// The chain text ("outer: middle: root cause", as {:c} prints it, but with no
// frame elided however deep the chain and sensitive() values not hashed)
// contains `text`. An empty error has no chain.
class chain_matcher : public detail::found_matcher {
public:
    explicit chain_matcher(std::string text) : text_(std::move(text)) {}
    bool match(const error& e) const override {
        if (!e) return found(false, "an empty error");
        std::string chain = detail::full_chain(e);
        const bool ok = chain.find(text_) != std::string::npos;
        return found(ok, "chain " + detail::quoted(chain));
    }
    std::string describe() const override {
        return with_found("has a chain containing " + detail::quoted(text_));
    }

private:
    std::string text_;
};

// handle()'s decision: a bug when the error is empty or its outermost layer is
// not user-facing; user-facing (a known edge case) otherwise.
class bug_matcher : public detail::found_matcher {
public:
    explicit bug_matcher(bool bug) noexcept : bug_(bug) {}
    bool match(const error& e) const override {
        const bool user = e.is_user_facing();
        if (!e) return found(user != bug_, "an empty error");
        return found(user != bug_, "outermost layer " + detail::layer_text(e.layer()) +
                                       (user ? ", user-facing" : ", not user-facing"));
    }
    std::string describe() const override {
        return with_found(bug_ ? "is a bug (empty, or its outermost layer is not user-facing)"
                               : "is user-facing (its outermost layer is user-facing)");
    }

private:
    bool bug_;
};

// The outermost frame has a misc entry `key`, and, when a value is given, one
// with that key and value. Strings match strings; integers match integers by
// value, whether the entry was stored signed or unsigned; bool matches bool.
class misc_matcher : public detail::found_matcher {
public:
    explicit misc_matcher(std::string key) : key_(std::move(key)) {}
    misc_matcher(std::string key, std::string_view value) : key_(std::move(key)), kind_(kind::string), s_(value) {}
    misc_matcher(std::string key, bool value) : key_(std::move(key)), kind_(kind::boolean), b_(value) {}
    misc_matcher(std::string key, std::int64_t value) : key_(std::move(key)), kind_(kind::signed_integer), i_(value) {}
    misc_matcher(std::string key, std::uint64_t value)
        : key_(std::move(key)), kind_(kind::unsigned_integer), u_(value) {}

    // Found: the entries with the key ("line" = 1); or that there is none, the
    // entries there are, and an inner frame's entry with the key (HasMisc looks
    // at the outermost frame only).
    bool match(const error& e) const override {
        if (!e) return found(false, "an empty error");
        bool ok = false;
        std::string same_key;
        std::string all;
        std::size_t n_same = 0, n_all = 0;
        for (const misc_entry& m : e.misc()) {
            const std::string text = detail::entry_text(m);
            if (m.key == key_) {
                ok = ok || value_matches(m.value);
                detail::add_item(same_key, n_same++, text);
            }
            detail::add_item(all, n_all++, text);
        }
        detail::add_more(same_key, n_same);
        detail::add_more(all, n_all);
        if (n_same) return found(ok, std::move(same_key));
        std::string out = "no entry " + detail::quoted(key_) + "; ";
        out += n_all ? "the entries: " + all : "no misc entries";
        std::size_t depth = 1;
        for (error f = e.inner(); f; f = f.inner(), ++depth) {
            for (const misc_entry& m : f.misc()) {
                if (m.key != key_) continue;
                out += "; frame #" + std::to_string(depth) + " below has " + detail::entry_text(m);
                return found(false, std::move(out));
            }
        }
        return found(false, std::move(out));
    }
    std::string describe() const override {
        std::string out = "has misc entry " + detail::quoted(key_);
        switch (kind_) {
            case kind::any: break;
            case kind::string: out += " = " + detail::quoted(s_); break;
            case kind::boolean: out += b_ ? " = true" : " = false"; break;
            case kind::signed_integer: out += " = " + std::to_string(i_); break;
            case kind::unsigned_integer: out += " = " + std::to_string(u_); break;
        }
        return with_found(std::move(out));
    }

private:
    enum class kind { any, string, boolean, signed_integer, unsigned_integer };

    bool value_matches(const misc_value& v) const noexcept {
        using k = misc_value::kind;
        switch (kind_) {
            case kind::any: return true;
            case kind::string: return v.type() == k::string && v.as_string() == s_;
            case kind::boolean: return v.type() == k::boolean && v.as_bool() == b_;
            case kind::signed_integer:
                return (v.type() == k::signed_integer && v.as_signed() == i_) ||
                       (v.type() == k::unsigned_integer && std::cmp_equal(v.as_unsigned(), i_));
            case kind::unsigned_integer:
                return (v.type() == k::unsigned_integer && v.as_unsigned() == u_) ||
                       (v.type() == k::signed_integer && std::cmp_equal(v.as_signed(), u_));
        }
        return false;
    }

    std::string key_;
    kind kind_ = kind::any;
    std::string s_;
    bool b_ = false;
    std::int64_t i_ = 0;
    std::uint64_t u_ = 0;
};

// Some frame of the chain has a secondary error (error::secondaries()) whose
// label is `label` (any label when none is given) and that matches M (when one
// is given). The other matchers never look at secondary errors: a task canceled
// because another failed does not HasLayer the other's layer, nor
// ChainContains its message; this one asks about them explicitly.
//   CHECK_THAT(r.error(), HasSecondary("later failure 1 of 2", ChainContains("disk full")));
// Found: each secondary error of the chain, as its label and its chain.
template <class M>
class secondary_matcher : public detail::found_matcher {
public:
    // What M expects is taken now, before any match: M is matched against each
    // secondary error, and what it found in the last one would mislead.
    secondary_matcher(std::optional<std::string> label, std::optional<M> m)
        : label_(std::move(label)), m_(std::move(m)), expects_(m_ ? m_->toString() : std::string()) {}
    bool match(const error& e) const override {
        if (!e) return found(false, "an empty error");
        bool ok = false;
        std::string seen;
        std::size_t n = 0;
        for (error f = e; f; f = f.inner()) {
            const secondary_view v = f.secondaries();
            for (auto it = v.begin(); it != v.end(); ++it) {
                if (!ok && (!label_ || it.label() == *label_) && (!m_ || m_->match(*it))) ok = true;
                detail::add_item(seen, n++, detail::quoted(it.label()) + ": " + detail::full_chain(*it));
            }
        }
        detail::add_more(seen, n);
        return found(ok, n ? "secondary errors " + seen : "no secondary errors");
    }
    std::string describe() const override {
        std::string out = "has a secondary error";
        if (label_) out += " labeled " + detail::quoted(*label_);
        if (m_) out += " that " + expects_;
        return with_found(std::move(out));
    }

private:
    std::optional<std::string> label_;
    std::optional<M> m_;
    std::string expects_;
};

// Any error at all (what HasSecondary without a matcher asks for).
class any_error_matcher : public error_matcher {
public:
    bool match(const error&) const override { return true; }
    std::string describe() const override { return "is any error"; }
};

inline secondary_matcher<any_error_matcher> HasSecondary() { return {std::nullopt, std::nullopt}; }
inline secondary_matcher<any_error_matcher> HasSecondary(std::string label) {
    return {std::move(label), std::nullopt};
}
template <std::derived_from<error_matcher> M>
secondary_matcher<M> HasSecondary(const M& m) {
    return {std::nullopt, m};
}
template <std::derived_from<error_matcher> M>
secondary_matcher<M> HasSecondary(std::string label, const M& m) {
    return {std::move(label), m};
}

template <layer_tag L>
layer_matcher<L> IsLayer() {
    return {};
}
template <layer_tag L>
has_layer_matcher<L> HasLayer() {
    return {};
}
inline message_matcher MessageContains(std::string text) { return message_matcher(std::move(text)); }
inline chain_matcher ChainContains(std::string text) { return chain_matcher(std::move(text)); }
inline bug_matcher IsBug() { return bug_matcher(true); }
inline bug_matcher IsUserFacing() { return bug_matcher(false); }

inline misc_matcher HasMisc(std::string key) { return misc_matcher(std::move(key)); }
inline misc_matcher HasMisc(std::string key, std::string_view value) { return misc_matcher(std::move(key), value); }
inline misc_matcher HasMisc(std::string key, const char* value) {
    return misc_matcher(std::move(key), std::string_view(value ? value : "(null)"));
}
template <std::integral I>
misc_matcher HasMisc(std::string key, I value) {
    // As error::with stores them: a char is a one-character string.
    if constexpr (std::is_same_v<I, bool>)
        return misc_matcher(std::move(key), value);
    else if constexpr (std::is_same_v<I, char>)
        return misc_matcher(std::move(key), std::string_view(&value, 1));
    else if constexpr (std::is_signed_v<I>)
        return misc_matcher(std::move(key), static_cast<std::int64_t>(value));
    else
        return misc_matcher(std::move(key), static_cast<std::uint64_t>(value));
}
// Floating-point values are not matched: exact comparison makes brittle tests.
template <std::floating_point F>
misc_matcher HasMisc(std::string key, F value) = delete;

// ---- Result matchers ---------------------------------------------------------

// What the matchers of strata::result<T> (any T) derive from. Each has
// `template <class T> bool match(const result<T>&) const`, describe() and
// toString() (what Catch prints), as Catch2's matchers do.
struct result_matcher_base {};

template <class M>
concept result_matcher = std::derived_from<M, result_matcher_base>;

namespace detail {

// A result as found: "a success: 8080" (a string quoted, any other value as fmt
// prints it, or else as Catch does; "a success" for result<void>), or "a
// failure in layer "app.api": <chain>".
template <class T>
std::string result_text(const result<T>& r) {
    if (r.has_value()) {
        if constexpr (std::is_void_v<T>)
            return "a success";
        else if constexpr (std::is_convertible_v<const T&, std::string_view>)
            return "a success: " + quoted(std::string_view(*r));
        else if constexpr (fmt::is_formattable<T>::value)
            return "a success: " + fmt::format("{}", *r);
        else
            return "a success: " + Catch::Detail::stringify(*r);
    }
    return "a failure in layer " + layer_text(r.error().layer()) + ": " + full_chain(r.error());
}

// A result matcher that remembers what its last match() found.
class found_result_matcher : public detail::remembers_found<result_matcher_base> {};

}  // namespace detail

// The result failed.
class fails_matcher : public detail::found_result_matcher {
public:
    template <class T>
    bool match(const result<T>& r) const {
        return found(!r.has_value(), detail::result_text(r));
    }
    std::string describe() const { return with_found("is a failure"); }
    std::string toString() const { return describe(); }
};

// The result failed, and its error matches M (an error matcher, or a
// combination of them). Found: a success, or what M found in the error.
template <std::derived_from<error_matcher> M>
class fails_with_matcher : public detail::found_result_matcher {
public:
    explicit fails_with_matcher(const M& m) : m_(m) {}
    template <class T>
    bool match(const result<T>& r) const {
        if (r.has_value()) return found(false, detail::result_text(r));
        return found(m_.match(r.error()), std::string());
    }
    std::string describe() const { return with_found("is a failure whose error " + m_.toString()); }
    std::string toString() const { return describe(); }

private:
    M m_;
};

// The result holds a value.
class succeeds_matcher : public detail::found_result_matcher {
public:
    template <class T>
    bool match(const result<T>& r) const {
        return found(r.has_value(), detail::result_text(r));
    }
    std::string describe() const { return with_found("is a success"); }
    std::string toString() const { return describe(); }
};

template <result_matcher A, result_matcher B>
class result_all_of : public result_matcher_base {
public:
    result_all_of(const A& a, const B& b) : a_(a), b_(b) {}
    template <class T>
    bool match(const result<T>& r) const {
        return a_.match(r) && b_.match(r);
    }
    std::string describe() const { return "( " + a_.toString() + " and " + b_.toString() + " )"; }
    std::string toString() const { return describe(); }

private:
    A a_;
    B b_;
};

template <result_matcher A, result_matcher B>
class result_any_of : public result_matcher_base {
public:
    result_any_of(const A& a, const B& b) : a_(a), b_(b) {}
    template <class T>
    bool match(const result<T>& r) const {
        return a_.match(r) || b_.match(r);
    }
    std::string describe() const { return "( " + a_.toString() + " or " + b_.toString() + " )"; }
    std::string toString() const { return describe(); }

private:
    A a_;
    B b_;
};

template <result_matcher A>
class result_not_of : public result_matcher_base {
public:
    explicit result_not_of(const A& a) : a_(a) {}
    template <class T>
    bool match(const result<T>& r) const {
        return !a_.match(r);
    }
    std::string describe() const { return "not " + a_.toString(); }
    std::string toString() const { return describe(); }

private:
    A a_;
};

template <result_matcher A, result_matcher B>
result_all_of<A, B> operator&&(const A& a, const B& b) {
    return result_all_of<A, B>(a, b);
}
template <result_matcher A, result_matcher B>
result_any_of<A, B> operator||(const A& a, const B& b) {
    return result_any_of<A, B>(a, b);
}
template <result_matcher A>
result_not_of<A> operator!(const A& a) {
    return result_not_of<A>(a);
}

inline fails_matcher Fails() { return {}; }
template <std::derived_from<error_matcher> M>
fails_with_matcher<M> FailsWith(const M& m) {
    return fails_with_matcher<M>(m);
}
inline succeeds_matcher Succeeds() { return {}; }

}  // namespace strata::testing

// ---- What Catch prints for errors and results --------------------------------

namespace Catch {

// The chain, "outer: middle: root cause" ({:c}); "(no error)" for an empty error.
template <>
struct StringMaker<strata::error> {
    static std::string convert(const strata::error& e) { return fmt::format("{:c}", e); }
};

template <strata::layer_tag L>
struct StringMaker<strata::wrapped_error<L>> {
    static std::string convert(const strata::wrapped_error<L>& e) { return StringMaker<strata::error>::convert(e); }
};

// "success", or "failure: " and the error's chain.
template <class T>
struct StringMaker<strata::result<T>> {
    static std::string convert(const strata::result<T>& r) {
        if (r.has_value()) return "success";
        return "failure: " + StringMaker<strata::error>::convert(r.error());
    }
};

}  // namespace Catch
