package replica

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"

	"github.com/blockrep/blockrep/checkpoint"
	"github.com/blockrep/blockrep/transport"
)

// storeTable finds the store that holds each group of a ReplicaHost with
// several storage locations (ReplicaConfig.Stores).
type storeTable struct {
	create sync.Mutex // serialises group creation: a group id is unique across stores

	mu    sync.Mutex
	where map[string]checkpoint.Store // group id → the store found holding it
}

// isDefaultStorage reports whether an authorization entry's storage names
// ReplicaConfig.Store.
func isDefaultStorage(name string) bool { return name == "" || name == "." }

// storeList returns every store of the host once: ReplicaConfig.Store,
// then the others by storage name.
func (h *ReplicaHost) storeList() []checkpoint.Store {
	out := []checkpoint.Store{h.cfg.Store}
	for _, name := range slices.Sorted(maps.Keys(h.cfg.Stores)) {
		st := h.cfg.Stores[name]
		if !slices.ContainsFunc(out, func(o checkpoint.Store) bool { return sameStore(o, st) }) {
			out = append(out, st)
		}
	}
	return out
}

// sameStore reports whether a and b are the same store value (a store type
// that cannot be compared is never the same as another).
func sameStore(a, b checkpoint.Store) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta != nil && ta.Comparable() && a == b
}

// storeNamed returns the store of an authorization entry's storage
// location: ReplicaConfig.Store for "" and ".", else ReplicaConfig.Stores.
func (h *ReplicaHost) storeNamed(name string) (checkpoint.Store, error) {
	if isDefaultStorage(name) {
		return h.cfg.Store, nil
	}
	if st, ok := h.cfg.Stores[name]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownStorage, name)
}

// storeFor returns the store that holds group id: the one found before,
// or the only store whose Group knows it. It returns an error wrapping
// ErrUnknownGroup (and checkpoint.ErrUnknownGroup) when no store holds it,
// and one wrapping ErrGroupExists when two stores do.
func (h *ReplicaHost) storeFor(ctx context.Context, id string) (checkpoint.Store, error) {
	t := &h.stores
	t.mu.Lock()
	st := t.where[id]
	t.mu.Unlock()
	if st != nil {
		_, err := st.Group(ctx, id)
		if !errors.Is(err, checkpoint.ErrUnknownGroup) {
			return st, nil // found there again (or failing there: the caller sees why)
		}
		t.mu.Lock()
		delete(t.where, id) // removed since: look again
		t.mu.Unlock()
	}
	if err := checkpoint.ValidGroupID(id); err != nil {
		return nil, err
	}
	var found checkpoint.Store
	for _, s := range h.storeList() {
		_, err := s.Group(ctx, id)
		switch {
		case errors.Is(err, checkpoint.ErrUnknownGroup):
			continue
		case err != nil && !errors.Is(err, checkpoint.ErrDamaged):
			return nil, err
		}
		if found != nil {
			return nil, fmt.Errorf("%w: %q is in two storage locations", ErrGroupExists, id)
		}
		found = s
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrUnknownGroup, id, checkpoint.ErrUnknownGroup)
	}
	t.mu.Lock()
	if t.where == nil {
		t.where = make(map[string]checkpoint.Store)
	}
	t.where[id] = found
	t.mu.Unlock()
	return found, nil
}

// createGroupIn creates group id in the store of storage location storage
// (an authorization entry's Storage), unless another store holds the id
// already. Its errors: ErrUnknownStorage; one wrapping ErrGroupExists for
// an id another store holds; the store's errors (checkpoint.ErrGroupExists
// for an id this one holds).
func (h *ReplicaHost) createGroupIn(ctx context.Context, storage, id string, spec checkpoint.GroupSpec) (checkpoint.Group, error) {
	st, err := h.storeNamed(storage)
	if err != nil {
		return nil, err
	}
	t := &h.stores
	t.create.Lock()
	defer t.create.Unlock()
	have, err := h.storeFor(ctx, id)
	switch {
	case err == nil && !sameStore(have, st):
		return nil, fmt.Errorf("%w: %q is held in another storage location than %q", ErrGroupExists, id, storage)
	case err != nil && !errors.Is(err, checkpoint.ErrUnknownGroup):
		return nil, err
	}
	g, err := st.CreateGroup(ctx, id, spec)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.where == nil {
		t.where = make(map[string]checkpoint.Store)
	}
	t.where[id] = st
	t.mu.Unlock()
	return g, nil
}

// storageOf returns the storage location the authorizer gives peer for
// group.
func (h *ReplicaHost) storageOf(peer transport.Identity, group string) (string, error) {
	e, err := h.cfg.Authorizer.Authorize(peer, group)
	if err != nil {
		return "", err
	}
	return e.Storage, nil
}

// allGroups lists the groups of every store, sorted, each once.
func (h *ReplicaHost) allGroups(ctx context.Context) ([]string, error) {
	var out []string
	for _, st := range h.storeList() {
		ids, err := st.Groups(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ErrUnknownStorage is returned (wrapped) when an authorization entry
// names a storage location that ReplicaConfig.Stores does not have: the
// primary's CreateGroup is refused with CodeInternal.
var ErrUnknownStorage = errors.New("replica: unknown storage location")

// validateStores checks ReplicaConfig.Stores.
func validateStores(stores map[string]checkpoint.Store) error {
	for name, st := range stores {
		switch {
		case isDefaultStorage(name):
			return fmt.Errorf("%w: ReplicaConfig.Stores has the name %q, which means ReplicaConfig.Store", ErrInvalidConfig, name)
		case st == nil:
			return fmt.Errorf("%w: ReplicaConfig.Stores[%q] is nil", ErrInvalidConfig, name)
		}
	}
	return nil
}
