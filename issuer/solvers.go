package issuer

import (
	"context"
	"errors"
)

// HTTPSolvers answers http-01 through each of its solvers, so that the CA's
// request is answered whichever route reaches it: hotcert's own backend,
// or an HAProxy map.
type HTTPSolvers []HTTPSolver

var _ HTTPSolver = HTTPSolvers{}

// Present presents through each solver in turn and stops at the first
// that fails.
func (s HTTPSolvers) Present(ctx context.Context, token, keyAuth string) error {
	for _, one := range s {
		if err := one.Present(ctx, token, keyAuth); err != nil {
			return err
		}
	}
	return nil
}

// CleanUp cleans up through every solver, even after one fails.
func (s HTTPSolvers) CleanUp(ctx context.Context, token string) error {
	var errs []error
	for _, one := range s {
		errs = append(errs, one.CleanUp(ctx, token))
	}
	return errors.Join(errs...)
}
