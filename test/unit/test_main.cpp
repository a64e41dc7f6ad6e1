// The one main() shared by every test executable; each *_test.cpp holds only test cases.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
