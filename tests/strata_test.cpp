// Tests for <strata/strata.hpp>: the umbrella brings the whole public API, and the
// pieces work together from making an error to the decision at the top.
#include <catch2/catch.hpp>

#include <strata/strata.hpp>

#include <string>
#include <system_error>

namespace {

struct billing {
    static constexpr std::string_view name = "billing";
    static constexpr bool user_facing = true;
};

strata::result<int> read_balance(bool fail) {
    if (fail)
        return strata::wrap<strata::low_level>(std::make_error_code(std::errc::connection_refused), "connect to {}",
                                               "db-7")
            .with("attempt", 3);
    return 42;
}

strata::result<int> charge(bool fail) {
    STRATA_TRY_ASSIGN(const int balance, read_balance(fail));
    return balance - 1;
}

strata::result<int> checkout(bool fail) {
    return charge(fail).or_else([](const strata::error& e) -> strata::result<int> {
        return strata::wrap<billing>(e, "the payment service is unavailable; try again later");
    });
}

}  // namespace

TEST_CASE("from the origin to the decision, through result, TRY, or_else, handle and format", "[strata]") {
    REQUIRE(checkout(false).value() == 41);

    const strata::result<int> r = checkout(true);
    REQUIRE_FALSE(r);
    const strata::error& e = r.error();
    CHECK(e.is<billing>());
    CHECK(strata::find<strata::low_level>(e).has_value());
    CHECK(e.inner_as<std::error_code>() != nullptr);
    CHECK(fmt::format("{:c}", e) ==
          "the payment service is unavailable; try again later: connect to db-7: " +
              std::make_error_code(std::errc::connection_refused).message());

    std::string log;
    const strata::log_sink sink = [&](const strata::log_record& rec) { log.assign(rec.text); };
    const strata::report rep = strata::handle(e, {&sink});
    CHECK_FALSE(rep.is_bug);
    CHECK(fmt::format("{}", rep) == "[" + rep.id + "] the payment service is unavailable; try again later");
    // The record holds what the user was spared: the low-level frame, its misc
    // entry, and the stack from the origin.
    CHECK(log.rfind("[" + rep.id + "] ", 0) == 0);
    CHECK(log.find("connect to db-7") != std::string::npos);
    CHECK(log.find("attempt = 3") != std::string::npos);
    CHECK(log.find("read_balance") != std::string::npos);
    CHECK(rep.user_message.find("db-7") == std::string::npos);
}
