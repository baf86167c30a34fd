package badgerstore

import "testing"

// TestDiscardRatioLeavesRoomForTheCopy: the value-log GC copies a file's
// live values into the newest file, so on a nearly full disk it may only
// pick files whose live rest fits in half the free space.
func TestDiscardRatioLeavesRoomForTheCopy(t *testing.T) {
	tests := []struct {
		name string
		free uint64
		want float64
	}{
		{"plenty of room", 1 << 30, gcDiscardRatio},
		{"a file's worth free", valueLogFileSize, gcDiscardRatio},
		{"a quarter file free", valueLogFileSize / 4, 0.875},
		{"nothing free", 0, maxDiscardRatio},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &spaceGuard{dir: "test", minFree: DefaultMinFreeBytes, free: func(string) (uint64, error) { return tt.free, nil }}
			got := g.discardRatio()
			if got != tt.want {
				t.Errorf("discardRatio with %d bytes free = %v, want %v", tt.free, got, tt.want)
			}
			if live := (1 - got) * valueLogFileSize; live > float64(tt.free)/2 && got != maxDiscardRatio {
				t.Errorf("a file with %v live bytes may be copied into %d free bytes", live, tt.free)
			}
		})
	}
	var none *spaceGuard
	if got := none.discardRatio(); got != gcDiscardRatio {
		t.Errorf("discardRatio without a guard = %v, want %v", got, gcDiscardRatio)
	}
}
