// The plug-in half of macro_doc: evaluates one arithmetic macro of a document nobody vetted.
// It is an ordinary recursive-descent evaluator, with the bugs such code tends to have:
// nesting depth without a limit (a macro of a million parentheses overflows the stack) and
// fact() without a bound (fact(1e12) runs for hours). In caisson's sandbox such a macro costs
// one error in the host, which goes on with the next one.
//
// Built as a shared library that links nothing: the worker provides caisson's wire.
#include <caisson/plugin.hpp>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace {

class Evaluator {
public:
    explicit Evaluator(const std::string& text) : s_(text) {}

    std::string run() {
        double v = sum();
        skip();
        if (i_ != s_.size()) fail("unexpected text");
        char out[64];
        std::snprintf(out, sizeof(out), "%.15g", v);
        return out;
    }

private:
    void skip() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    bool eat(char c) {
        skip();
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error(what + " at column " + std::to_string(i_ + 1));
    }
    double sum() {
        double v = product();
        for (;;) {
            if (eat('+')) v += product();
            else if (eat('-')) v -= product();
            else return v;
        }
    }
    double product() {
        double v = power();
        for (;;) {
            if (eat('*')) {
                v *= power();
            } else if (eat('/')) {
                double d = power();
                if (d == 0) fail("division by zero");
                v /= d;
            } else if (eat('%')) {
                v = std::fmod(v, power());
            } else {
                return v;
            }
        }
    }
    double power() {
        double base = unary();
        return eat('^') ? std::pow(base, power()) : base;
    }
    double unary() { return eat('-') ? -unary() : primary(); }
    double primary() {
        if (eat('(')) {
            double v = sum();
            if (!eat(')')) fail("expected )");
            return v;
        }
        skip();
        if (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.')) {
            size_t n = 0;
            double v = std::stod(s_.substr(i_, 64), &n);
            i_ += n;
            return v;
        }
        size_t start = i_;
        while (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_]))) ++i_;
        std::string name = s_.substr(start, i_ - start);
        if (name.empty()) fail("expected a number");
        if (name == "pi") return M_PI;
        if (!eat('(')) fail("expected ( after " + name);
        double a = sum();
        if (!eat(')')) fail("expected )");
        if (name == "sqrt") return std::sqrt(a);
        if (name == "fact") {
            double r = 1;
            for (double k = 2; k <= a; ++k) r *= k;
            return r;
        }
        fail("unknown function " + name);
    }

    const std::string& s_;
    size_t i_ = 0;
};

}  // namespace

std::string evaluate(std::string expression) { return Evaluator(expression).run(); }

CAISSON_PLUGIN_FUNCTION(evaluate)
