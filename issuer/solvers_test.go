package issuer

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// callSolver records its calls in a shared log and fails when told to.
type callSolver struct {
	name          string
	log           *[]string
	present, done error
}

func (s callSolver) Present(_ context.Context, token, keyAuth string) error {
	*s.log = append(*s.log, s.name+" present "+token+" "+keyAuth)
	return s.present
}

func (s callSolver) CleanUp(_ context.Context, token string) error {
	*s.log = append(*s.log, s.name+" cleanup "+token)
	return s.done
}

func TestSolversPresentThroughEachInTurn(t *testing.T) {
	var log []string
	s := HTTPSolvers{callSolver{name: "a", log: &log}, callSolver{name: "b", log: &log}}
	if err := s.Present(context.Background(), "tok", "ka"); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanUp(context.Background(), "tok"); err != nil {
		t.Fatal(err)
	}
	want := []string{"a present tok ka", "b present tok ka", "a cleanup tok", "b cleanup tok"}
	if !slices.Equal(log, want) {
		t.Fatalf("calls %q, want %q", log, want)
	}
}

func TestSolversStopPresentingAtTheFirstFailure(t *testing.T) {
	var log []string
	bad := errors.New("map not loaded")
	s := HTTPSolvers{callSolver{name: "a", log: &log, present: bad}, callSolver{name: "b", log: &log}}
	if err := s.Present(context.Background(), "tok", "ka"); !errors.Is(err, bad) {
		t.Fatalf("Present = %v, want %v", err, bad)
	}
	if !slices.Equal(log, []string{"a present tok ka"}) {
		t.Fatalf("calls %q", log)
	}
}

func TestSolversCleanUpEveryOne(t *testing.T) {
	var log []string
	e1, e2 := errors.New("one"), errors.New("two")
	s := HTTPSolvers{callSolver{name: "a", log: &log, done: e1}, callSolver{name: "b", log: &log, done: e2}}
	err := s.CleanUp(context.Background(), "tok")
	if !errors.Is(err, e1) || !errors.Is(err, e2) {
		t.Fatalf("CleanUp = %v, want both errors", err)
	}
	if !slices.Equal(log, []string{"a cleanup tok", "b cleanup tok"}) {
		t.Fatalf("calls %q", log)
	}
}
