#include "filter/condition.hpp"

#include "filter/constants.hpp"

#include <caisson/error.hpp>

#include <cctype>
#include <charconv>
#include <cstdio>

namespace caisson::filter {
namespace {

using seccomp::Expr;
using seccomp::Op;

class Parser {
public:
    explicit Parser(std::string_view s) : s_(s) {}

    uint64_t value_only() {
        uint64_t v = parse_value();
        skip();
        if (pos_ != s_.size()) fail("unexpected '" + std::string(s_.substr(pos_, 8)) + "'");
        return v;
    }

    Expr parse() {
        Expr e = parse_or();
        skip();
        if (pos_ != s_.size()) fail("unexpected '" + std::string(s_.substr(pos_, 8)) + "'");
        return e;
    }

private:
    std::string_view s_;
    size_t pos_ = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw Error::usage("column " + std::to_string(pos_ + 1) + ": " + what);
    }
    void skip() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    }
    bool eat(std::string_view tok) {
        skip();
        if (s_.substr(pos_, tok.size()) != tok) return false;
        // "|" must not eat the first half of "||", nor "&" of "&&".
        if ((tok == "|" || tok == "&") && pos_ + 1 < s_.size() && s_[pos_ + 1] == tok[0]) return false;
        pos_ += tok.size();
        return true;
    }
    void expect(std::string_view tok) {
        if (!eat(tok)) fail("expected '" + std::string(tok) + "'");
    }
    std::string_view word() {
        skip();
        size_t start = pos_;
        while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
        return s_.substr(start, pos_ - start);
    }

    static Expr combine(Expr::Kind kind, Expr a, Expr b) {
        if (a.kind == kind) {
            a.kids.push_back(std::move(b));
            return a;
        }
        Expr e;
        e.kind = kind;
        e.kids.push_back(std::move(a));
        e.kids.push_back(std::move(b));
        return e;
    }

    Expr parse_or() {
        Expr e = parse_and();
        while (eat("||")) e = combine(Expr::Kind::Or, std::move(e), parse_and());
        return e;
    }
    Expr parse_and() {
        Expr e = parse_unary();
        while (eat("&&")) e = combine(Expr::Kind::And, std::move(e), parse_unary());
        return e;
    }
    Expr parse_unary() {
        skip();
        if (eat("!")) {
            Expr e;
            e.kind = Expr::Kind::Not;
            e.kids.push_back(parse_unary());
            return e;
        }
        if (pos_ < s_.size() && s_[pos_] == '(') {
            // Either a parenthesised condition or a parenthesised operand "(arg0 & M) == V".
            size_t save = pos_;
            ++pos_;
            skip();
            if (starts_operand()) {
                Expr operand = parse_operand();
                if (eat(")")) return parse_comparison(std::move(operand));
            }
            pos_ = save + 1;
            Expr e = parse_or();
            expect(")");
            return e;
        }
        if (eat("true")) return Expr{};
        if (!starts_operand()) fail("expected argN, low32(argN), '!' or '('");
        return parse_comparison(parse_operand());
    }

    bool starts_operand() {
        skip();
        auto rest = s_.substr(pos_);
        return rest.starts_with("arg") || rest.starts_with("low32");
    }

    unsigned parse_arg() {
        size_t at = pos_;
        auto w = word();
        if (w.size() != 4 || !w.starts_with("arg") || w[3] < '0' || w[3] > '9') {
            pos_ = at;
            fail("expected arg0 .. arg5");
        }
        unsigned n = static_cast<unsigned>(w[3] - '0');
        if (n > 5) {
            pos_ = at;
            fail("argument index " + std::to_string(n) + " out of range (a system call has arg0 .. arg5)");
        }
        return n;
    }

    Expr parse_operand() {
        Expr e;
        e.kind = Expr::Kind::Cmp;
        skip();
        if (s_.substr(pos_).starts_with("low32")) {
            pos_ += 5;
            expect("(");
            skip();
            e.arg = parse_arg();
            expect(")");
            e.low32 = true;
        } else {
            e.arg = parse_arg();
        }
        if (eat("&")) e.mask = parse_value();
        return e;
    }

    Expr parse_comparison(Expr e) {
        struct {
            std::string_view tok;
            Op op;
        } const ops[] = {{"==", Op::Eq}, {"!=", Op::Ne}, {"<=", Op::Le}, {">=", Op::Ge}, {"<", Op::Lt}, {">", Op::Gt}};
        for (const auto& o : ops) {
            if (eat(o.tok)) {
                e.op = o.op;
                e.value = parse_value();
                return e;
            }
        }
        skip();
        size_t save = pos_;
        if (word() == "in") {
            expect("{");
            Expr any;
            any.kind = Expr::Kind::Or;
            do {
                Expr one = e;
                one.op = Op::Eq;
                one.value = parse_value();
                any.kids.push_back(std::move(one));
            } while (eat(","));
            expect("}");
            return any.kids.size() == 1 ? std::move(any.kids[0]) : any;
        }
        pos_ = save;
        // A bare (usually masked) argument is true when non-zero, as in C.
        e.op = Op::Ne;
        e.value = 0;
        return e;
    }

    uint64_t parse_value() {
        uint64_t v = parse_term();
        while (eat("|")) v |= parse_term();
        return v;
    }
    uint64_t parse_term() {
        skip();
        if (eat("~")) return ~parse_term();
        if (eat("(")) {
            uint64_t v = parse_value();
            expect(")");
            return v;
        }
        bool negative = eat("-");
        skip();
        if (pos_ >= s_.size()) fail("expected a value");
        if (std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
            int base = 10;
            if (s_.substr(pos_).starts_with("0x") || s_.substr(pos_).starts_with("0X")) {
                base = 16;
                pos_ += 2;
            } else if (s_[pos_] == '0' && pos_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1]))) {
                base = 8;  // modes: 04000
                ++pos_;
            }
            uint64_t v = 0;
            auto [end, ec] = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), v, base);
            if (ec != std::errc()) fail("number out of range");
            pos_ = static_cast<size_t>(end - s_.data());
            return negative ? ~v + 1 : v;
        }
        size_t at = pos_;
        auto name = word();
        if (name.empty()) fail("expected a value");
        auto v = constant_value(name);
        if (!v) {
            pos_ = at;
            fail("unknown constant '" + std::string(name) + "'");
        }
        return negative ? ~*v + 1 : *v;
    }
};

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), v < 10 ? "%llu" : "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

Expr parse_condition(std::string_view text) { return Parser(text).parse(); }

uint64_t parse_value(std::string_view text) { return Parser(text).value_only(); }

std::string condition_text(const Expr& e) {
    switch (e.kind) {
    case Expr::Kind::True: return "true";
    case Expr::Kind::Not: return "!(" + condition_text(e.kids[0]) + ")";
    case Expr::Kind::And:
    case Expr::Kind::Or: {
        std::string out;
        for (const auto& k : e.kids) {
            if (!out.empty()) out += e.kind == Expr::Kind::And ? " && " : " || ";
            bool paren = k.kind == Expr::Kind::And || k.kind == Expr::Kind::Or;
            out += paren ? "(" + condition_text(k) + ")" : condition_text(k);
        }
        return out;
    }
    case Expr::Kind::Cmp: {
        static const char* const ops[] = {"==", "!=", "<", "<=", ">", ">="};
        std::string arg = "arg" + std::to_string(e.arg);
        if (e.low32) arg = "low32(" + arg + ")";
        if (e.mask != ~0ull) arg = "(" + arg + " & " + hex(e.mask) + ")";
        return arg + " " + ops[static_cast<int>(e.op)] + " " + hex(e.value);
    }
    }
    return "?";
}

}  // namespace caisson::filter
