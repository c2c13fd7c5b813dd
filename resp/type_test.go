package resp

import "testing"

// Every type answers IsError and IsAggregate as its kind of reply says, and
// a Value's IsError is its type's.
func TestTypeKinds(t *testing.T) {
	all := []Type{TypeSimpleString, TypeError, TypeInteger, TypeBulkString, TypeArray, TypeNull,
		TypeDouble, TypeBoolean, TypeBlobError, TypeVerbatim, TypeBigNumber, TypeMap, TypeSet,
		TypeAttribute, TypePush, Type('?')}
	for _, ty := range all {
		wantErr := ty == TypeError || ty == TypeBlobError
		wantAgg := ty == TypeArray || ty == TypeMap || ty == TypeSet || ty == TypeAttribute || ty == TypePush
		if got := ty.IsError(); got != wantErr {
			t.Errorf("%v.IsError() = %v, want %v", ty, got, wantErr)
		}
		if got := (Value{Type: ty}).IsError(); got != wantErr {
			t.Errorf("Value{Type: %v}.IsError() = %v, want %v", ty, got, wantErr)
		}
		if got := ty.IsAggregate(); got != wantAgg {
			t.Errorf("%v.IsAggregate() = %v, want %v", ty, got, wantAgg)
		}
	}
}
