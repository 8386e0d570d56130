// STRATA_CHECKED with the TRY macros of issue 11 (built with STRATA_CHECKED=1 and
// its own main, as checked_test): a plain error or a const result handed up by
// STRATA_TRY is the caller's to check; one the caller checks is not reported;
// transform_error's new failure is checked like any other.
#include <catch2/catch.hpp>

#include <strata/result.hpp>

#include <string>

static_assert(STRATA_CHECKED == 1, "this file tests STRATA_CHECKED");

namespace {

int reports = 0;
std::string last_message;

void record(const strata::unchecked_error& e) noexcept {
    ++reports;
    last_message.assign(e.message);
}

struct recording {
    recording() : previous(strata::set_unchecked_error_handler(&record)) {
        reports = 0;
        last_message.clear();
    }
    ~recording() { strata::set_unchecked_error_handler(previous); }
    strata::unchecked_error_handler previous;
};

strata::error plain(bool fail) { return fail ? strata::make_error("plain failure") : strata::error(); }

strata::result<int> pass_plain_temporary(bool fail) {
    STRATA_TRY(plain(fail));
    return 1;
}
strata::result<int> pass_plain_named(bool fail) {
    const strata::error e = plain(fail);
    STRATA_TRY(e);  // tests it (a check), and hands it up: the caller's to check again
    return 1;
}
strata::result<int> pass_const(const strata::result<int>& r) {
    STRATA_TRY_ASSIGN(int v, r);
    return v;
}

}  // namespace

TEST_CASE("a plain error handed up by STRATA_TRY and dropped is reported", "[checked][try]") {
    recording r;
    { const strata::result<int> dropped = pass_plain_temporary(true); }
    CHECK(reports == 1);
    CHECK(last_message == "plain failure");
    { const strata::result<int> dropped = pass_plain_named(true); }
    CHECK(reports == 2);
}

TEST_CASE("a plain error handed up by STRATA_TRY and checked is not reported", "[checked][try]") {
    recording r;
    {
        const strata::result<int> a = pass_plain_temporary(true);
        CHECK_FALSE(a.has_value());
        const strata::result<int> b = pass_plain_named(true);
        CHECK_FALSE(b.has_value());
        CHECK(pass_plain_named(false).value() == 1);
    }
    CHECK(reports == 0);
}

TEST_CASE("a const result's failure handed up is the caller's to check", "[checked][try]") {
    recording r;
    {
        const strata::result<int> source = strata::make_error("const failure");
        CHECK_FALSE(source.has_value());
        { const strata::result<int> dropped = pass_const(source); }
    }
    CHECK(reports == 1);  // the shared frame: handed up unchecked, dropped so
    CHECK(last_message == "const failure");
}

TEST_CASE("transform_error's failure is reported when dropped, not when checked", "[checked]") {
    recording r;
    auto rewrap = [](const strata::error& e) { return strata::wrap(e, "context"); };
    {
        const strata::result<int> bad = strata::make_error("root");
        const strata::result<int> wrapped = bad.transform_error(rewrap);
        CHECK_FALSE(wrapped.has_value());
    }
    CHECK(reports == 0);
    { const strata::result<int> dropped = strata::result<int>(strata::make_error("root")).transform_error(rewrap); }
    CHECK(reports == 1);
    CHECK(last_message == "context");
}

namespace {
strata::result<int> number(bool fail) {
    if (fail) return plain(true);
    return 1;
}
strata::result<int> wrap_with_macro(bool fail) {
    STRATA_TRY_WRAP(strata::low_level, number(fail), "wrapped by the macro");
    return 1;
}
}  // namespace

TEST_CASE("a failure wrapped by result::wrap or STRATA_TRY_WRAP is the caller's to check", "[checked][try]") {
    recording r;
    { const strata::result<int> dropped = strata::result<int>(plain(true)).wrap<strata::low_level>("wrapped"); }
    CHECK(reports == 1);  // the new frame only: wrapping looked at the one below
    CHECK(last_message == "wrapped");
    { const strata::result<void> dropped = strata::result<void>(plain(true)).wrap_lazy([] { return "lazy"; }); }
    CHECK(reports == 2);
    CHECK(last_message == "lazy");
    { const strata::result<int> dropped = wrap_with_macro(true); }
    CHECK(reports == 3);
    CHECK(last_message == "wrapped by the macro");
    {
        const strata::result<int> checked = strata::result<int>(plain(true)).wrap<strata::low_level>("wrapped");
        CHECK_FALSE(checked.has_value());
        const strata::result<int> also = wrap_with_macro(true);
        CHECK_FALSE(also.has_value());
        CHECK(wrap_with_macro(false).value() == 1);
    }
    CHECK(reports == 3);
}
