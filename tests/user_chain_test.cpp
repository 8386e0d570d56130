// Tests for the user-facing chain (issue 12, item 5): a layer's show_cause and
// handle_options::show_user_chain show the user-facing frames below the
// outermost, never crossing a frame that is not user-facing, never a sensitive()
// value; the default (outermost only) and the bug text are unchanged; and
// <strata/os_error.hpp> turns common std::errc values into sentences for users.
#include <catch2/catch.hpp>

#include <strata/format.hpp>
#include <strata/handle.hpp>
#include <strata/json.hpp>
#include <strata/os_error.hpp>
#include <strata/sensitive.hpp>
#include <strata/strata.hpp>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <ios>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

// Written for users, and reads as the start of a sentence its cause ends.
struct config_error {
    static constexpr std::string_view name = "user_chain_test.config";
    static constexpr bool user_facing = true;
    static constexpr bool show_cause = true;
};

// Written for users, complete on its own.
struct parse_error {
    static constexpr std::string_view name = "user_chain_test.parse";
    static constexpr bool user_facing = true;
};

// Not for users, whatever it says.
struct storage_error {
    static constexpr std::string_view name = "user_chain_test.storage";
};

// show_cause on a layer that is not user-facing: never shown, so it shows nothing.
struct hidden_showing {
    static constexpr std::string_view name = "user_chain_test.hidden_showing";
    static constexpr bool show_cause = true;
};

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

// The records a handle() wrote, kept by a sink of the test's own.
struct captured {
    std::vector<std::string> ids;
    std::vector<std::string> texts;
    strata::log_sink sink() {
        return strata::log_sink([this](const strata::log_record& r) {
            ids.emplace_back(r.id);
            texts.emplace_back(r.text);
        });
    }
};

strata::report quietly(const strata::error& e, bool chain = false) {
    static const strata::log_sink quiet([](const strata::log_record&) {});
    strata::handle_options o;
    o.sink = &quiet;
    o.show_user_chain = chain;
    return strata::handle(e, o);
}

// "can't load settings.toml" over "line 3: expected '='" over a storage frame
// over a user-facing frame deep down.
strata::error settings_failure() {
    strata::error deep = strata::make_error<parse_error>("deep text written for users");
    strata::error raw = strata::wrap<storage_error>(std::move(deep), "read(fd 7) returned 12 bytes of 40");
    strata::error parse = strata::wrap<parse_error>(std::move(raw), "line 3: expected '='");
    return strata::wrap<config_error>(std::move(parse), "can't load settings.toml");
}

}  // namespace

TEST_CASE("a layer with show_cause shows its user-facing cause after its message", "[user_chain]") {
    STATIC_REQUIRE(strata::layer_info_of<config_error>.show_cause);
    STATIC_REQUIRE(!strata::layer_info_of<parse_error>.show_cause);
    STATIC_REQUIRE(!strata::layer_info_of<strata::intermediate>.show_cause);

    const strata::error e = settings_failure();
    const strata::report r = quietly(e);
    CHECK_FALSE(r.is_bug);
    CHECK(r.user_message == "can't load settings.toml: line 3: expected '='");
    CHECK(fmt::format("{}", r) == "[" + r.id + "] can't load settings.toml: line 3: expected '='");
    // Only what the user sees changes: the error's own forms do not.
    CHECK(fmt::format("{}", e) == "can't load settings.toml");
    CHECK(e.message() == "can't load settings.toml");
}

TEST_CASE("show_cause goes on while each frame shown asks for its cause", "[user_chain]") {
    // config over config over parse over parse: the second parse frame is not shown,
    // since the first parse frame does not ask for its cause.
    const strata::error e = strata::wrap<config_error>(
        strata::wrap<config_error>(
            strata::wrap<parse_error>(strata::make_error<parse_error>("innermost"), "in section [net]"),
            "settings.toml"),
        "can't start");
    CHECK(quietly(e).user_message == "can't start: settings.toml: in section [net]");

    // show_user_chain shows the whole user-facing run.
    const strata::error f = strata::wrap<config_error>(
        strata::wrap<config_error>(
            strata::wrap<parse_error>(strata::make_error<parse_error>("innermost"), "in section [net]"),
            "settings.toml"),
        "can't start");
    CHECK(quietly(f, true).user_message == "can't start: settings.toml: in section [net]: innermost");
}

TEST_CASE("show_user_chain shows every user-facing frame from the outermost", "[user_chain]") {
    const strata::error e = strata::wrap<strata::intermediate>(
        strata::wrap<strata::intermediate>(strata::make_error<strata::intermediate>("the file is empty"),
                                           "can't read the job list"),
        "can't start the nightly run");
    const strata::report r = quietly(e, true);
    CHECK_FALSE(r.is_bug);
    CHECK(r.user_message == "can't start the nightly run: can't read the job list: the file is empty");

    // canceled and timed_out are user-facing too.
    const strata::error t = strata::wrap<strata::intermediate>(strata::make_error<strata::timed_out>("no answer in 5 s"),
                                                               "prices are slow to load");
    CHECK(quietly(t, true).user_message == "prices are slow to load: no answer in 5 s");
}

TEST_CASE("an empty message adds nothing, and a very deep user chain is cut short", "[user_chain]") {
    using strata::intermediate;
    const strata::error gap = strata::wrap<intermediate>(
        strata::wrap<intermediate>(strata::make_error<intermediate>("b"), ""), "a");
    CHECK(quietly(gap, true).user_message == "a: b");
    const strata::error top_empty = strata::wrap<intermediate>(strata::make_error<intermediate>("b"), "");
    CHECK(quietly(top_empty, true).user_message == "b");

    strata::error deep = strata::make_error<intermediate>("m0");
    for (int i = 1; i < 100; ++i) deep = strata::wrap<intermediate>(std::move(deep), "m{}", i);
    const std::string shown = quietly(deep, true).user_message;
    std::string expected = "m99";
    for (int i = 98; i > 99 - STRATA_FORMAT_MAX_FRAMES; --i) expected += fmt::format(": m{}", i);
    expected += ": ...";
    CHECK(shown == expected);
}

TEST_CASE("the user chain stops at the first frame that is not user-facing", "[user_chain]") {
    SECTION("a layer's show_cause") {
        const strata::error e = strata::wrap<config_error>(
            strata::wrap<storage_error>(strata::make_error<parse_error>("deep text written for users"), "fd 7 closed"),
            "can't load settings.toml");
        const strata::report r = quietly(e);
        CHECK(r.user_message == "can't load settings.toml");
    }
    SECTION("show_user_chain") {
        const strata::report r = quietly(settings_failure(), true);
        CHECK(r.user_message == "can't load settings.toml: line 3: expected '='");
        CHECK_FALSE(contains(r.user_message, "read(fd 7)"));
        CHECK_FALSE(contains(r.user_message, "deep text"));  // user-facing, but below a frame that is not
    }
    SECTION("a non-strata cause is not user-facing") {
        const strata::error e = strata::wrap<config_error>(std::make_error_code(std::errc::io_error), "can't load");
        CHECK(quietly(e).user_message == "can't load");
        const strata::error x = strata::wrap<config_error>(std::string("internal detail"), "can't load");
        CHECK(quietly(x, true).user_message == "can't load");
    }
    SECTION("untagged frames are not user-facing") {
        const strata::error e =
            strata::wrap<config_error>(strata::wrap(strata::make_error<parse_error>("line 1"), "untagged"), "can't load");
        CHECK(quietly(e, true).user_message == "can't load");
    }
}

TEST_CASE("by default the user sees the outermost message only, as before", "[user_chain]") {
    const strata::error e = strata::wrap<strata::intermediate>(
        strata::make_error<strata::intermediate>("the file is empty"), "can't read the job list");
    const strata::report r = quietly(e);
    CHECK(r.user_message == "can't read the job list");
    CHECK(r.user_message == fmt::format("{}", e));
    CHECK_FALSE(strata::handle_options{}.show_user_chain);

    // The example of the guide: an application layer over a storage layer.
    const strata::error o = strata::wrap<parse_error>(
        strata::wrap<storage_error>(std::make_error_code(std::errc::no_such_file_or_directory), "size of {}", "/x"),
        "order {} can't be shown right now", 7);
    CHECK(quietly(o).user_message == "order 7 can't be shown right now");
}

TEST_CASE("a bug is told the bug text whatever the chain below says", "[user_chain]") {
    const strata::error untagged_top = strata::wrap(settings_failure(), "untagged on top");
    const strata::error low_top = strata::wrap<strata::low_level>(settings_failure(), "low level on top");
    const strata::error hidden = strata::wrap<hidden_showing>(settings_failure(), "shows a cause, but hidden");
    for (const strata::error* e : {&untagged_top, &low_top, &hidden}) {
        for (const bool chain : {false, true}) {
            const strata::report r = quietly(*e, chain);
            CHECK(r.is_bug);
            CHECK(r.user_message == strata::default_bug_message);
        }
    }
    const strata::log_sink quiet([](const strata::log_record&) {});
    strata::handle_options o;
    o.sink = &quiet;
    o.show_user_chain = true;
    o.bug_message = "something broke";
    CHECK(strata::handle(strata::wrap(settings_failure(), "x"), o).user_message == "something broke");
    CHECK(strata::handle(strata::error(), o).user_message == "something broke");
}

TEST_CASE("sensitive values in a shown cause stay hashed", "[user_chain]") {
    strata::set_sensitive_key("user_chain_test key");
    const strata::error inner = strata::make_error<parse_error>("account {} is locked", strata::sensitive("ada@example.org"))
                                    .with("password", strata::sensitive("hunter2"));
    const strata::error e = strata::wrap<config_error>(inner, "can't sign in as {}", strata::sensitive("ada"));
    const std::string token = strata::sensitive_token("ada@example.org");

    for (const bool chain : {false, true}) {
        const strata::report r = quietly(e, chain);
        CHECK_FALSE(contains(r.user_message, "ada@example.org"));
        CHECK_FALSE(contains(r.user_message, "hunter2"));
        CHECK_FALSE(contains(r.user_message, "as ada"));
        CHECK(r.user_message == fmt::format("can't sign in as {}: account {} is locked", strata::sensitive_token("ada"), token));
    }
    // The same text as the error's own hashed forms.
    CHECK(quietly(e).user_message == fmt::format("{}: {}", e.message(), e.inner().message()));
}

TEST_CASE("the ID in the user line is the one the record is logged under", "[user_chain]") {
    captured got;
    const strata::log_sink sink = got.sink();
    strata::handle_options o;
    o.sink = &sink;
    o.show_user_chain = true;
    const strata::error e = settings_failure();
    const strata::report r = strata::handle(e, o);
    REQUIRE(got.ids.size() == 1);
    CHECK(got.ids[0] == r.id);
    CHECK(fmt::format("{}", r) == "[" + got.ids[0] + "] can't load settings.toml: line 3: expected '='");
    CHECK(contains(got.texts[0], "user saw: [" + r.id + "] can't load settings.toml: line 3: expected '='"));
    CHECK(contains(got.texts[0], "\n[" + r.id + "] ") == false);  // one record, under one ID
    CHECK(got.texts[0].rfind("[" + r.id + "] ", 0) == 0);

    // Handled again (report once): the same ID, nothing logged, the same line.
    const strata::report again = strata::handle(e, o);
    CHECK(again.id == r.id);
    CHECK(again.user_message == r.user_message);
    CHECK(got.ids.size() == 1);
}

TEST_CASE("show_cause survives to_json and from_json", "[user_chain][json]") {
    const strata::error e = settings_failure();
    const std::string text = strata::to_json(e);
    CHECK(contains(text, "\"show_cause\":true"));
    strata::result<strata::error> back = strata::from_json(text);
    REQUIRE(back.has_value());
    CHECK(back->layer().show_cause);
    CHECK_FALSE(back->inner().layer().show_cause);
    CHECK(quietly(*back).user_message == "can't load settings.toml: line 3: expected '='");
    // Built-in layers decode to their static record, show_cause false.
    strata::result<strata::error> plain = strata::from_json(strata::to_json(strata::make_error<strata::intermediate>("x")));
    REQUIRE(plain.has_value());
    CHECK(&plain->layer() == &strata::layer_info_of<strata::intermediate>);
    CHECK_FALSE(contains(strata::to_json(strata::make_error<strata::intermediate>("x")), "show_cause"));
    // Not a boolean: a failed decode that says where.
    std::string bad = text;
    bad.replace(bad.find("\"show_cause\":true"), 17, "\"show_cause\":1");
    strata::result<strata::error> refused = strata::from_json(bad);
    REQUIRE_FALSE(refused.has_value());
    CHECK(contains(refused.error().message(), "show_cause: expected a boolean"));
}

TEST_CASE("user_message_of gives a sentence for common std::errc values", "[user_chain][errc]") {
    using std::errc;
    CHECK(strata::user_message_of(std::make_error_code(errc::no_such_file_or_directory)) ==
          "the file or directory does not exist");
    CHECK(strata::user_message_of(std::make_error_code(errc::permission_denied)) == "permission was denied");
    CHECK(strata::user_message_of(std::make_error_code(errc::file_exists)) == "a file with that name already exists");
    CHECK(strata::user_message_of(std::make_error_code(errc::no_space_on_device)) == "the disk is full");
    CHECK(strata::user_message_of(std::make_error_code(errc::connection_refused)) == "the server refused the connection");
    CHECK(strata::user_message_of(std::make_error_code(errc::timed_out)) == "the operation timed out");
    for (const errc c : {errc::operation_not_permitted, errc::is_a_directory, errc::not_a_directory,
                         errc::directory_not_empty, errc::filename_too_long, errc::file_too_large,
                         errc::read_only_file_system, errc::too_many_files_open, errc::too_many_files_open_in_system,
                         errc::device_or_resource_busy, errc::text_file_busy, errc::io_error, errc::not_enough_memory,
                         errc::resource_unavailable_try_again, errc::connection_reset, errc::connection_aborted,
                         errc::broken_pipe, errc::not_connected, errc::host_unreachable, errc::network_unreachable,
                         errc::network_down, errc::address_in_use, errc::address_not_available, errc::interrupted,
                         errc::operation_canceled}) {
        const std::string_view s = strata::user_message_of(std::make_error_code(c));
        INFO(std::make_error_code(c).message());
        CHECK_FALSE(s.empty());
        CHECK(s.back() != '.');
        CHECK(s.front() == static_cast<char>(std::tolower(static_cast<unsigned char>(s.front()))));
    }
    // An errno from the system category is the same code.
    CHECK(strata::user_message_of(std::error_code(ENOENT, std::system_category())) ==
          "the file or directory does not exist");
    // Not a common one, not an error, another category: nothing.
    CHECK(strata::user_message_of(std::make_error_code(errc::invalid_argument)).empty());
    CHECK(strata::user_message_of(std::make_error_code(errc::bad_file_descriptor)).empty());
    CHECK(strata::user_message_of(std::error_code()).empty());
    CHECK(strata::user_message_of(std::make_error_code(std::io_errc::stream)).empty());
}

TEST_CASE("user_facing_errc makes an os_error over the code for a user-facing layer to show", "[user_chain][errc]") {
    const std::error_code full = std::make_error_code(std::errc::no_space_on_device);
    const strata::error os = strata::user_facing_errc(full);
    const int line = __LINE__ - 1;
    CHECK(os.is<strata::os_error>());
    CHECK(os.is_user_facing());
    CHECK(os.message() == "the disk is full");
    CHECK(os.location().line() == static_cast<unsigned>(line));
    CHECK(contains(os.location().file_name(), "user_chain_test.cpp"));
    REQUIRE(os.inner_as<std::error_code>() != nullptr);
    CHECK(*os.inner_as<std::error_code>() == full);
    CHECK(fmt::format("{:c}", os) == "the disk is full: " + full.message());  // the log keeps the system's text

    SECTION("shown under a layer that shows its cause") {
        const strata::error e = strata::wrap<config_error>(strata::user_facing_errc(full), "can't save {}", "notes.txt");
        CHECK(quietly(e).user_message == "can't save notes.txt: the disk is full");
    }
    SECTION("shown by show_user_chain") {
        const strata::error e = strata::wrap<strata::intermediate>(
            strata::user_facing_errc(std::errc::connection_refused), "can't reach the license server");
        CHECK(quietly(e).user_message == "can't reach the license server");  // the default: outermost only
        const strata::error f = strata::wrap<strata::intermediate>(
            strata::user_facing_errc(std::errc::connection_refused), "can't reach the license server");
        CHECK(quietly(f, true).user_message == "can't reach the license server: the server refused the connection");
    }
    SECTION("handled on its own") {
        const strata::report r = quietly(strata::user_facing_errc(std::errc::permission_denied));
        CHECK_FALSE(r.is_bug);
        CHECK(r.user_message == "permission was denied");
    }
    SECTION("an uncommon code is not user-facing: the user sees the message above it") {
        const strata::error raw = strata::user_facing_errc(std::errc::bad_file_descriptor);
        CHECK_FALSE(raw.is_user_facing());
        CHECK(raw.layer().is_cause);
        CHECK(raw.message() == std::make_error_code(std::errc::bad_file_descriptor).message());
        const strata::error e = strata::wrap<config_error>(raw, "can't save notes.txt");
        CHECK(quietly(e, true).user_message == "can't save notes.txt");
        CHECK(quietly(raw).is_bug);
    }
}
